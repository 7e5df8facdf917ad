import DealSyncKafka
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// A Kafka cluster on loopback for trying dealsync's bus out (`dealsync simulate kafka`): librdkafka's mock
/// cluster with the topics created, and control routes to break it as a real cluster breaks:
///
/// - `GET /_sim/cluster`: bootstrap address, brokers, topics.
/// - `POST /_sim/brokers/{id}/down`, `POST /_sim/brokers/{id}/up`: a broker stops answering, or comes back.
/// - `POST /_sim/topics/{topic}/partitions/{partition}/leader/{broker}`: a partition's leadership moves.
public final class KafkaClusterSimulator: Sendable {
    public struct Topic: Sendable, Equatable {
        public var name: String
        public var partitions: Int

        public init(name: String, partitions: Int) {
            self.name = name
            self.partitions = partitions
        }

        /// `name:partitions`, or `name` (4 partitions).
        public init?(argument: String) {
            let parts = argument.split(separator: ":", maxSplits: 1).map(String.init)
            guard let name = parts.first, !name.isEmpty else { return nil }
            if parts.count == 2 {
                guard let count = Int(parts[1]), (1...1000).contains(count) else { return nil }
                self.init(name: name, partitions: count)
            } else {
                self.init(name: name, partitions: 4)
            }
        }
    }

    public let cluster: KafkaMockCluster
    public let topics: [Topic]

    public init(brokers: Int, topics: [Topic], logger: Logger) throws {
        cluster = try KafkaMockCluster(brokers: brokers, logger: logger)
        for topic in topics { try cluster.createTopic(topic.name, partitions: topic.partitions) }
        self.topics = topics
    }

    public var bootstrapServers: String { cluster.bootstrapServers }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/_sim/cluster") { _, _ in
            Self.json([
                "bootstrap_servers": "\"\(self.bootstrapServers)\"",
                "brokers": "\(self.cluster.brokerCount)",
                "topics": "[" + self.topics.map { #"{"name":"\#($0.name)","partitions":\#($0.partitions)}"# }.joined(separator: ",") + "]",
            ])
        }
        for (path, up) in [("down", false), ("up", true)] {
            router.post("/_sim/brokers/:id/\(path)") { _, context in
                guard let id = context.parameters.get("id").flatMap(Int32.init) else {
                    return Self.problem(400, "broker id must be a number")
                }
                do {
                    try self.cluster.setBroker(id, up: up)
                } catch {
                    return Self.problem(400, String(describing: error))
                }
                return Self.json(["broker": "\(id)", "up": "\(up)"])
            }
        }
        router.post("/_sim/topics/:topic/partitions/:partition/leader/:broker") { _, context in
            guard let topic = context.parameters.get("topic"), let partition = context.parameters.get("partition").flatMap(Int32.init),
                let broker = context.parameters.get("broker").flatMap(Int32.init)
            else { return Self.problem(400, "expected /_sim/topics/{topic}/partitions/{number}/leader/{broker number}") }
            do {
                try self.cluster.setLeader(topic: topic, partition: partition, broker: broker)
            } catch {
                return Self.problem(400, String(describing: error))
            }
            return Self.json(["topic": "\"\(topic)\"", "partition": "\(partition)", "leader": "\(broker)"])
        }
        return router
    }

    /// A JSON object from members whose values are already JSON text.
    static func json(_ members: [String: String]) -> Response {
        let body = "{" + members.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: body)))
    }

    static func problem(_ status: Int, _ detail: String) -> Response {
        let escaped = detail.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return Response(
            status: .init(code: status), headers: [.contentType: "application/problem+json"],
            body: .init(byteBuffer: .init(string: #"{"status":\#(status),"detail":"\#(escaped)"}"#)))
    }
}
