import DealSyncGateway
import Foundation
import Testing

/// What a reload reports as changed: files added, removed and edited, by path, and which are connectors.
struct ConfigurationFilesTests {
    @Test func changesAreFoundByPath() {
        let before = ConfigurationFiles(texts: ["connectors/a.yaml": "id: a", "mappings/m.yaml": "name: m", "mappings/n.yaml": "name: n"])
        let after = ConfigurationFiles(texts: ["connectors/a.yaml": "id: a", "mappings/m.yaml": "name: m2", "connectors/b.yaml": "id: b"])
        let changes = before.changes(to: after)
        #expect(changes.map(\.description) == ["connectors/b.yaml (added)", "mappings/m.yaml (changed)", "mappings/n.yaml (removed)"])
        #expect(changes.map(\.isConnector) == [true, false, false])
        #expect(before.changes(to: before).isEmpty)
    }

    @Test func readingADirectoryTakesOnlyItsYAMLFiles() throws {
        let directory = NSTemporaryDirectory() + "dealsync-files-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for sub in ["connectors", "mappings"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        try "id: a".write(toFile: "\(directory)/connectors/a.yaml", atomically: true, encoding: .utf8)
        try "id: a".write(toFile: "\(directory)/connectors/a.yaml.off", atomically: true, encoding: .utf8)
        try "name: m".write(toFile: "\(directory)/mappings/m.yml", atomically: true, encoding: .utf8)
        #expect(ConfigurationFiles.read(directory: directory).texts == ["connectors/a.yaml": "id: a", "mappings/m.yml": "name: m"])
    }
}
