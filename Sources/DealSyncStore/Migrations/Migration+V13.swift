extension Migration {
    /// Room on each page of `link_fields` for a row's next versions. A link's field state is rewritten whole by
    /// every decision about it, several times in the seconds after a change (decided, its write confirmed, the echo
    /// of it, the write back's confirmation and echo), and its new version stays on the same page when there is
    /// room: a heap-only update, with no new entry in the primary key, the old versions pruned from the page without
    /// a vacuum. With pages filled to the brim, four updates in five moved the row to another page (a quick
    /// benchmark's drain and freshness steps: 3,558 heap-only of 16,728, 14,372 dead rows beside 8,624 live, 18 MB);
    /// at half-full pages 15,634 of 16,167 stayed (2,642 dead, 15 MB). Pages already written keep what they hold.
    /// (`links` gains little from it: its updates mostly set the indexed deal or record.)
    static let v13RoomForNewVersions = Migration(
        version: 13, name: "room on the page for a link's next field states",
        statements: ["ALTER TABLE link_fields SET (fillfactor = 50)"])
}
