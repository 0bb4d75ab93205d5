#!/usr/bin/env python3
"""Turns a hyperfine --export-json file into a markdown table: median, min-max, ratio to the
first command (the floor), and a throughput column when --bytes is given."""
import argparse
import json
import statistics


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("json")
    parser.add_argument("--title", default="")
    parser.add_argument("--bytes", type=int, help="bytes each command processes (for MB/s)")
    args = parser.parse_args()
    results = json.load(open(args.json))["results"]
    floor = statistics.median(results[0]["times"])
    head = f"| {args.title} | median | min–max | ratio to {results[0]['command']} |"
    rule = "|---|---|---|---|"
    if args.bytes:
        head += " MB/s |"
        rule += "---|"
    print(head)
    print(rule)
    for result in results:
        times = result["times"]
        median = statistics.median(times)
        row = (
            f"| {result['command']} | {median * 1000:.1f} ms | {min(times) * 1000:.1f}–{max(times) * 1000:.1f} ms"
            f" | {median / floor:.2f} |"
        )
        if args.bytes:
            row += f" {args.bytes / median / 1e6:.0f} |"
        print(row)


if __name__ == "__main__":
    main()
