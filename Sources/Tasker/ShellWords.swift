/// Splits a command line into words the way a POSIX shell does, without running a shell, and
/// quotes words so that they split back (`quote`):
/// blanks separate words; single quotes keep everything literally; double quotes keep
/// everything but `\"`, `\\`, `` \` ``, `\$` and a backslash-newline; a backslash outside
/// quotes keeps the next character. No expansion of any kind happens.
///
/// Hand-written because no maintained Swift package does POSIX word splitting without also
/// expanding variables or globs.
public enum ShellWords {
  /// Why a command line cannot be split.
  public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
    case unterminatedQuote(Unicode.Scalar)
    case trailingBackslash

    public var description: String {
      switch self {
      case .unterminatedQuote(let quote): return "unterminated \(quote) quote in command"
      case .trailingBackslash: return "command ends with a lone backslash"
      }
    }
  }

  public static func split(_ line: String) throws(Failure) -> [String] {
    // Unicode scalars, not Characters: a combining mark after a quote would otherwise fuse with
    // it into one Character and hide the quote (found by fuzzing).
    var words: [String] = []
    var word = String.UnicodeScalarView()
    var inWord = false
    var iterator = line.unicodeScalars.makeIterator()
    while let character = iterator.next() {
      switch character {
      case " ", "\t", "\n":
        if inWord {
          words.append(String(word))
          word = String.UnicodeScalarView()
          inWord = false
        }
      case "'":
        inWord = true
        var closed = false
        while let next = iterator.next() {
          if next == "'" {
            closed = true
            break
          }
          word.append(next)
        }
        if !closed { throw .unterminatedQuote("'") }
      case "\"":
        inWord = true
        var closed = false
        while let next = iterator.next() {
          if next == "\"" {
            closed = true
            break
          }
          if next == "\\" {
            guard let escaped = iterator.next() else { throw .unterminatedQuote("\"") }
            switch escaped {
            case "\"", "\\", "$", "`": word.append(escaped)
            case "\n": break
            default:
              word.append("\\")
              word.append(escaped)
            }
            continue
          }
          word.append(next)
        }
        if !closed { throw .unterminatedQuote("\"") }
      case "\\":
        guard let escaped = iterator.next() else { throw .trailingBackslash }
        if escaped != "\n" {
          word.append(escaped)
          inWord = true
        }
      default:
        word.append(character)
        inWord = true
      }
    }
    if inWord { words.append(String(word)) }
    return words
  }

  /// `word` as it must be typed to be one word, both for `split` and for a POSIX shell
  /// (`/bin/sh`): unchanged when it is made only of ASCII letters, digits and `_ - . / : @ % + ,`
  /// (nothing a shell expands, and no `=`, which would make a first word an assignment);
  /// otherwise in single quotes, which keep everything literally but `'`, written `'\''`. The
  /// empty word is `''`.
  ///
  /// Works on Unicode scalars, like `split`: as `Character`s, a quote followed by a combining
  /// mark (U+032C) is one `Character` that is not `'`, and the quote would go unescaped (found
  /// by fuzzing). Control characters stay as they are inside the quotes, where a shell takes
  /// them literally. A NUL round-trips through `split`, but no shell word can hold one (nor can
  /// a command's arguments).
  public static func quote(_ word: String) -> String {
    let scalars = word.unicodeScalars
    if !scalars.isEmpty && scalars.allSatisfy(isPlain) { return word }
    var quoted = String.UnicodeScalarView()
    quoted.append("'")
    for scalar in scalars {
      if scalar == "'" {
        quoted.append(contentsOf: "'\\''".unicodeScalars)
      } else {
        quoted.append(scalar)
      }
    }
    quoted.append("'")
    return String(quoted)
  }

  /// `words` quoted (`quote`) and joined by blanks: a command line that `split` (or a shell)
  /// turns back into `words`.
  public static func join(_ words: [String]) -> String {
    words.map(quote).joined(separator: " ")
  }

  /// Whether `scalar` needs no quoting anywhere in a word.
  private static func isPlain(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9", "_", "-", ".", "/", ":", "@", "%", "+", ",": return true
    default: return false
    }
  }
}
