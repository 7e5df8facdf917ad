/// The dealsync release.
public enum DealSyncVersion {
    public static let current = "0.1.0"
}
