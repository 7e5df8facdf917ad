import Foundation

/// A message read from a topic, copied out of librdkafka's buffers.
public struct KafkaMessage: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: Data?
    public var value: Data
    /// Header names as sent; a name sent twice keeps its last value.
    public var headers: [String: String]
    /// The message's timestamp (create or log-append time) in unix milliseconds, when it has one.
    public var timestampMillis: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64, key: Data?, value: Data, headers: [String: String] = [:],
        timestampMillis: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMillis = timestampMillis
    }
}

/// A message to publish.
public struct KafkaOutgoingMessage: Sendable, Equatable {
    public var topic: String
    /// The partitioning key: messages with one key land in one partition, in the order sent.
    public var key: Data?
    public var value: Data
    public var headers: [(String, String)]

    public init(topic: String, key: Data?, value: Data, headers: [(String, String)] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.topic == b.topic && a.key == b.key && a.value == b.value && a.headers.elementsEqual(b.headers, by: ==)
    }
}

/// Where a published message landed.
public struct KafkaDeliveryReport: Sendable, Equatable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// One partition of a topic.
public struct KafkaTopicPartition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)[\(partition)]" }
}
