extension Migration {
    /// Inbox rows that came from a Kafka topic (MasterDeal's events on the bus).
    static let v5KafkaSource = Migration(
        version: 5, name: "kafka source",
        statements: [
            "ALTER TABLE inbox DROP CONSTRAINT inbox_source_check",
            "ALTER TABLE inbox ADD CONSTRAINT inbox_source_check CHECK (source IN ('webhook', 'poll', 'fetch', 'refetch', 'replay', 'kafka'))",
        ])
}
