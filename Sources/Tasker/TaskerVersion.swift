/// tasker's version, the one place it is defined (`tasker --version`, `tasker-runtime --version`).
public enum TaskerVersion {
  public static let current = "0.3.0"
}
