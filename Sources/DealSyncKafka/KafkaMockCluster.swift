import CRDKafka
import Foundation
import Logging
import Synchronization

/// librdkafka's in-process mock cluster: brokers that speak the real Kafka protocol on loopback (produce,
/// idempotent producers, consumer groups with offset commits), for the simulators, the demo and the tests. Other
/// processes reach it through ``bootstrapServers``. Its brokers can be taken down and partition leaders moved.
///
/// librdkafka documents the mock API as experimental; it is not a broker for production.
public final class KafkaMockCluster: Sendable {
    let owner: KafkaPointer
    let cluster: KafkaPointer
    let context: Unmanaged<KafkaClientContext>
    let destroyed = Mutex(false)
    public let bootstrapServers: String
    public let brokerCount: Int

    public init(brokers: Int = 3, logger: Logger) throws(KafkaError) {
        let context = Unmanaged.passRetained(KafkaClientContext(logger: logger))
        self.context = context
        self.brokerCount = brokers
        let owner: OpaquePointer
        do {
            owner = try KafkaClient.makeHandle(RD_KAFKA_PRODUCER, properties: [:], context: context)
        } catch {
            context.release()
            throw error
        }
        guard let cluster = rd_kafka_mock_cluster_new(owner, Int32(brokers)) else {
            rd_kafka_destroy(owner)
            context.release()
            throw KafkaError(code: -1, "cannot start the mock Kafka cluster")
        }
        self.owner = KafkaPointer(raw: owner)
        self.cluster = KafkaPointer(raw: cluster)
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit { shutdown() }

    /// Creates a topic (the mock cluster would otherwise create one with its defaults on first use).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster.raw, name, Int32(partitions), Int32(replicationFactor))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot create topic \(name)") }
    }

    /// Takes a broker down (its connections close, it accepts none) or brings it back. Broker ids are 1...count.
    public func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let err = up ? rd_kafka_mock_broker_set_up(cluster.raw, id) : rd_kafka_mock_broker_set_down(cluster.raw, id)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot set broker \(id) \(up ? "up" : "down")") }
    }

    /// Moves a partition's leadership to another broker.
    public func setLeader(topic: String, partition: Int32, broker: Int32) throws(KafkaError) {
        let err = rd_kafka_mock_partition_set_leader(cluster.raw, topic, partition, broker)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot move \(topic)[\(partition)] to broker \(broker)") }
    }

    /// Stops the brokers; clients connected to them see the cluster gone.
    public func shutdown() {
        let first = destroyed.withLock { destroyed in
            defer { destroyed = true }
            return !destroyed
        }
        guard first else { return }
        rd_kafka_mock_cluster_destroy(cluster.raw)
        rd_kafka_destroy(owner.raw)
        context.release()
    }
}
