import TaskerFuzzHarness

#if FUZZING
  /// The input callback libFuzzer calls (built by scripts/fuzz.sh with -sanitize=fuzzer).
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    FuzzHarness.parseInputs(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
  }

  /// SwiftPM names an executable's entry point after its module; it hands over to libFuzzer.
  @_cdecl("TaskerFuzzInputs_main")
  public func fuzzerMain(
    _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
  ) -> Int32 {
    FuzzDriver.run(argc, argv, fuzz)
  }
#else
  /// Without the fuzzer: replays the files named on the command line (a corpus).
  @main
  struct ReplayInputs {
    static func main() throws {
      for path in CommandLine.arguments.dropFirst() {
        FuzzHarness.parseInputs(try FuzzCorpus.read(path))
      }
    }
  }
#endif
