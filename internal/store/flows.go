package store

import (
	"fmt"
	"strings"
)

// FlowCut is what a recorder's cutoff knew of a flow it cut: the packets
// and bytes seen (original lengths), what was stored of them, and the
// wire bytes of the packets it did not store at all (keep: none). Index 0
// of each pair is from the initiator (Src, SrcPort), 1 the other way. A
// listing of the stored packets adds the packets and bytes that were not
// stored from it, so that a flow's "seen" counts survive keep: none.
//
// A flow is identified by (Session, Interface, CommunityID, FirstNS);
// writing it again replaces it.
type FlowCut struct {
	Session       int64
	Interface     int
	CommunityID   string
	FirstNS       int64
	LastNS        int64
	Proto         uint8
	Src, Dst      string
	SrcPort       uint16
	DstPort       uint16
	Packets       [2]uint64
	Bytes         [2]uint64
	StoredPackets [2]uint64
	StoredBytes   [2]uint64 // captured bytes stored
	UnstoredBytes [2]uint64 // wire bytes of the packets not stored
}

// flowCutsDDL is the flow_cuts table, made by the first writer that has a
// cut flow to record (a database without it has none): older builds read
// such a file as before, ignoring the table.
const flowCutsDDL = `CREATE TABLE IF NOT EXISTS %sflow_cuts (
	session_id     INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	interface_id   INTEGER NOT NULL,
	community_id   TEXT    NOT NULL,
	first_ns       INTEGER NOT NULL,
	last_ns        INTEGER NOT NULL,
	proto          INTEGER NOT NULL,
	src            TEXT    NOT NULL,
	sport          INTEGER NOT NULL,
	dst            TEXT    NOT NULL,
	dport          INTEGER NOT NULL,
	packets_0      INTEGER NOT NULL,
	packets_1      INTEGER NOT NULL,
	bytes_0        INTEGER NOT NULL,
	bytes_1        INTEGER NOT NULL,
	stored_packets_0 INTEGER NOT NULL,
	stored_packets_1 INTEGER NOT NULL,
	stored_bytes_0   INTEGER NOT NULL,
	stored_bytes_1   INTEGER NOT NULL,
	unstored_bytes_0 INTEGER NOT NULL,
	unstored_bytes_1 INTEGER NOT NULL,
	PRIMARY KEY (session_id, interface_id, community_id, first_ns)
) WITHOUT ROWID`

// AddFlowCuts records cut flows of the writer's session in the open
// transaction (opening one if needed), so that they become durable with
// the blocks committed with them.
func (w *Writer) AddFlowCuts(cuts []FlowCut) error {
	if len(cuts) == 0 {
		return nil
	}
	if err := w.begin(); err != nil {
		return err
	}
	db := w.db
	if err := db.conn.Exec(fmt.Sprintf(flowCutsDDL, db.prefix)); err != nil {
		return fmt.Errorf("add flow cuts: %w", db.classifyWrite(err))
	}
	stmt, _, err := db.conn.Prepare(`INSERT OR REPLACE INTO ` + db.prefix + `flow_cuts VALUES
		(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("add flow cuts: %w", db.classifyWrite(err))
	}
	defer stmt.Close()
	for _, c := range cuts {
		stmt.BindInt64(1, w.session)
		stmt.BindInt64(2, int64(c.Interface))
		stmt.BindText(3, c.CommunityID)
		stmt.BindInt64(4, c.FirstNS)
		stmt.BindInt64(5, c.LastNS)
		stmt.BindInt64(6, int64(c.Proto))
		stmt.BindText(7, c.Src)
		stmt.BindInt64(8, int64(c.SrcPort))
		stmt.BindText(9, c.Dst)
		stmt.BindInt64(10, int64(c.DstPort))
		for i, v := range []uint64{c.Packets[0], c.Packets[1], c.Bytes[0], c.Bytes[1],
			c.StoredPackets[0], c.StoredPackets[1], c.StoredBytes[0], c.StoredBytes[1],
			c.UnstoredBytes[0], c.UnstoredBytes[1]} {
			stmt.BindInt64(11+i, int64(v))
		}
		if err := stmt.Exec(); err != nil {
			return fmt.Errorf("add flow cuts: %w", db.classifyWrite(err))
		}
	}
	return nil
}

// FlowCuts returns the cut flows recorded for a session, none for a
// database written without a cutoff.
func (db *DB) FlowCuts(session int64) ([]FlowCut, error) {
	var n int64
	stmt, _, err := db.conn.Prepare(`SELECT count(*) FROM ` + db.prefix + `sqlite_schema WHERE type = 'table' AND name = 'flow_cuts'`)
	if err != nil {
		return nil, classify(err)
	}
	if stmt.Step() {
		n = stmt.ColumnInt64(0)
	}
	err = stmt.Err()
	stmt.Close()
	if err != nil || n == 0 {
		return nil, classify(err)
	}
	cols := []string{"interface_id", "community_id", "first_ns", "last_ns", "proto", "src", "sport", "dst", "dport",
		"packets_0", "packets_1", "bytes_0", "bytes_1", "stored_packets_0", "stored_packets_1",
		"stored_bytes_0", "stored_bytes_1", "unstored_bytes_0", "unstored_bytes_1"}
	stmt, _, err = db.conn.Prepare(`SELECT ` + strings.Join(cols, ", ") + ` FROM ` + db.prefix + `flow_cuts WHERE session_id = ? ORDER BY first_ns`)
	if err != nil {
		return nil, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	var out []FlowCut
	for stmt.Step() {
		c := FlowCut{Session: session, Interface: stmt.ColumnInt(0), CommunityID: stmt.ColumnText(1),
			FirstNS: stmt.ColumnInt64(2), LastNS: stmt.ColumnInt64(3), Proto: uint8(stmt.ColumnInt(4)),
			Src: stmt.ColumnText(5), SrcPort: uint16(stmt.ColumnInt(6)), Dst: stmt.ColumnText(7), DstPort: uint16(stmt.ColumnInt(8))}
		v := func(i int) uint64 { return uint64(stmt.ColumnInt64(i)) }
		c.Packets = [2]uint64{v(9), v(10)}
		c.Bytes = [2]uint64{v(11), v(12)}
		c.StoredPackets = [2]uint64{v(13), v(14)}
		c.StoredBytes = [2]uint64{v(15), v(16)}
		c.UnstoredBytes = [2]uint64{v(17), v(18)}
		out = append(out, c)
	}
	return out, classify(stmt.Err())
}
