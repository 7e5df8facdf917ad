import PostgresNIO
import DealSyncCore
public enum StorePlaceholder {}
