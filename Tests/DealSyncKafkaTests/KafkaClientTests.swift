import DealSyncKafka
import Foundation
import Logging
import Testing

/// The client over librdkafka against its mock cluster: real brokers on loopback, real protocol.
@Suite(.timeLimit(.minutes(2)))
struct KafkaClientTests {
    let logger = Logger(label: "kafka-test")

    func consumer(_ cluster: KafkaMockCluster, group: String, topic: String) throws -> KafkaConsumer {
        try KafkaConsumer(properties: ["bootstrap.servers": cluster.bootstrapServers, "group.id": group], topics: [topic], logger: logger)
    }

    /// Polls until `count` messages arrived or `polls` polls found nothing more.
    func read(_ consumer: KafkaConsumer, count: Int, polls: Int = 100) async -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        var empty = 0
        while messages.count < count, empty < polls {
            let batch = await consumer.poll(maxMessages: 500, timeout: .milliseconds(200))
            if batch.messages.isEmpty { empty += 1 }
            messages += batch.messages
        }
        return messages
    }

    @Test func publishedMessagesArriveWithKeysHeadersAndPerKeyOrder() async throws {
        let cluster = try KafkaMockCluster(brokers: 3, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("deals", partitions: 4)
        let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: logger)
        var outgoing: [KafkaOutgoingMessage] = []
        for index in 0..<200 {
            let key = "deal-\(index % 10)"
            outgoing.append(
                KafkaOutgoingMessage(
                    topic: "deals", key: Data(key.utf8), value: Data("\(key):\(index)".utf8),
                    headers: [("event_id", "e\(index)"), ("lineage_id", "l\(index)")]))
        }
        let reports = await producer.send(outgoing)
        #expect(reports.count == 200)
        let landed = try reports.map { try $0.get() }
        // One key, one partition.
        for key in 0..<10 {
            let partitions = Set(landed.enumerated().filter { $0.offset % 10 == key }.map(\.element.partition))
            #expect(partitions.count == 1, "key deal-\(key) landed in \(partitions)")
        }
        #expect(Set(landed.map(\.partition)).count > 1, "ten keys all landed in one partition of four")
        await producer.close()

        let reader = try consumer(cluster, group: "g1", topic: "deals")
        let messages = await read(reader, count: 200)
        #expect(messages.count == 200)
        for key in 0..<10 {
            let values = messages.filter { $0.key == Data("deal-\(key)".utf8) }.map { String(decoding: $0.value, as: UTF8.self) }
            #expect(values == (0..<20).map { "deal-\(key):\($0 * 10 + key)" })
        }
        let first = try #require(messages.first { $0.value == Data("deal-3:3".utf8) })
        #expect(first.headers == ["event_id": "e3", "lineage_id": "l3"])
        #expect(first.timestampMillis != nil)
        await reader.close()
    }

    @Test func aMemberResumesAfterTheLastCommitAndReadsTheRestAgain() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("events", partitions: 1)
        let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: logger)
        let reports = await producer.send((0..<10).map { KafkaOutgoingMessage(topic: "events", key: nil, value: Data("m\($0)".utf8)) })
        #expect(reports.allSatisfy { (try? $0.get()) != nil })
        await producer.close()

        let first = try consumer(cluster, group: "g", topic: "events")
        let delivered = await read(first, count: 10)
        #expect(delivered.count == 10)
        // Only the first six were stored: only they are committed.
        try await first.commit(Array(delivered.prefix(6)))
        await first.close()

        let second = try consumer(cluster, group: "g", topic: "events")
        let again = await read(second, count: 4)
        #expect(again.map { String(decoding: $0.value, as: UTF8.self) } == ["m6", "m7", "m8", "m9"])
        await second.close()
    }

    @Test func aBrokerDownDelaysDeliveryAndLosesNothing() async throws {
        let cluster = try KafkaMockCluster(brokers: 1, logger: logger)
        defer { cluster.shutdown() }
        try cluster.createTopic("events", partitions: 1)
        let producer = try KafkaProducer(properties: ["bootstrap.servers": cluster.bootstrapServers], logger: logger)
        #expect((try? await producer.send(KafkaOutgoingMessage(topic: "events", key: nil, value: Data("before".utf8)))) != nil)
        try cluster.setBroker(1, up: false)
        let sending = Task {
            await producer.send((0..<5).map { KafkaOutgoingMessage(topic: "events", key: nil, value: Data("m\($0)".utf8)) })
        }
        try await Task.sleep(for: .milliseconds(500))
        try cluster.setBroker(1, up: true)
        let results = await sending.value
        #expect(results.count == 5)
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
        await producer.close()
        let reader = try consumer(cluster, group: "g", topic: "events")
        let messages = await read(reader, count: 6)
        #expect(messages.map { String(decoding: $0.value, as: UTF8.self) } == ["before", "m0", "m1", "m2", "m3", "m4"])
        await reader.close()
    }

    @Test func badPropertiesAreRefusedByName() {
        #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(properties: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"], logger: logger)
        }
        do {
            _ = try KafkaProducer(properties: ["bootstrap.servers": "127.0.0.1:1", "no.such.property": "1"], logger: logger)
        } catch {
            #expect(error.description.contains("no.such.property"))
        }
    }
}
