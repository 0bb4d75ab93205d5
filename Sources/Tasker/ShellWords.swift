/// Splits a command line into words the way a POSIX shell does, without running a shell:
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
}
