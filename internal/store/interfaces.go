package store

import "fmt"

// Interface describes one capture interface of a session. A live capture
// has one (id 0); an imported pcapng file may have several, with different
// link types. Blocks name theirs by id.
type Interface struct {
	ID          int
	Name        string
	Description string
	Filter      string
	LinkType    uint32
	Snaplen     uint32
}

// AddInterface records an interface of a session.
func (db *DB) AddInterface(session int64, it Interface) error {
	stmt, _, err := db.conn.Prepare(`INSERT INTO interfaces (session_id, interface_id, name, description, filter, link_type, snaplen)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	stmt.BindInt64(2, int64(it.ID))
	stmt.BindText(3, it.Name)
	stmt.BindText(4, it.Description)
	stmt.BindText(5, it.Filter)
	stmt.BindInt64(6, int64(it.LinkType))
	stmt.BindInt64(7, int64(it.Snaplen))
	if err := stmt.Exec(); err != nil {
		return fmt.Errorf("add interface: %w", db.classifyWrite(err))
	}
	return nil
}

// Interfaces returns a session's interfaces by id. Sessions without
// recorded interfaces (live captures) get one built from the session and
// from the link types their blocks use.
func (db *DB) Interfaces(s Session) ([]Interface, error) {
	stmt, _, err := db.conn.Prepare(`SELECT interface_id, name, description, filter, link_type, snaplen
		FROM interfaces WHERE session_id = ? ORDER BY interface_id`)
	if err != nil {
		return nil, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, s.ID)
	var out []Interface
	for stmt.Step() {
		out = append(out, Interface{
			ID: stmt.ColumnInt(0), Name: stmt.ColumnText(1), Description: stmt.ColumnText(2), Filter: stmt.ColumnText(3),
			LinkType: uint32(stmt.ColumnInt64(4)), Snaplen: uint32(stmt.ColumnInt64(5)),
		})
	}
	if err := stmt.Err(); err != nil {
		return nil, classify(err)
	}
	if len(out) == 0 {
		out = []Interface{{ID: 0, Name: s.Interface, Filter: s.Filter, LinkType: s.LinkType, Snaplen: s.Snaplen}}
	}
	return out, nil
}

// LinkTypes returns the distinct link types and interface ids the
// session's blocks use.
func (db *DB) LinkTypes(session int64) (linkTypes []uint32, interfaces []int, err error) {
	stmt, _, err := db.conn.Prepare(`SELECT DISTINCT link_type, interface_id FROM blocks WHERE session_id = ?`)
	if err != nil {
		return nil, nil, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	seenLT := map[uint32]bool{}
	seenIf := map[int]bool{}
	for stmt.Step() {
		lt, id := uint32(stmt.ColumnInt64(0)), stmt.ColumnInt(1)
		if !seenLT[lt] {
			seenLT[lt] = true
			linkTypes = append(linkTypes, lt)
		}
		if !seenIf[id] {
			seenIf[id] = true
			interfaces = append(interfaces, id)
		}
	}
	return linkTypes, interfaces, classify(stmt.Err())
}

// SetTimes sets a session's start and end, as an import learns them.
func (db *DB) SetTimes(session int64, started, ended int64) error {
	return db.execChanged(`UPDATE sessions SET started_ns = ?, ended_ns = ? WHERE id = ?`, started, ended, session)
}

// TimeSpan returns the earliest and latest packet timestamps of a session
// (ns), or zeros when it has no packets.
func (db *DB) TimeSpan(session int64) (first, last int64, err error) {
	stmt, _, err := db.conn.Prepare(`SELECT coalesce(min(min_ns), 0), coalesce(max(max_ns), 0) FROM blocks WHERE session_id = ?`)
	if err != nil {
		return 0, 0, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	if stmt.Step() {
		first, last = stmt.ColumnInt64(0), stmt.ColumnInt64(1)
	}
	return first, last, classify(stmt.Err())
}

// Comments returns the comments of a session's packets (pcapng
// opt_comment), by packet number.
func (db *DB) Comments(session int64) (map[int64][]string, error) {
	stmt, _, err := db.conn.Prepare(`SELECT packet, text FROM comments WHERE session_id = ? ORDER BY packet, seq`)
	if err != nil {
		return nil, classify(err)
	}
	defer stmt.Close()
	stmt.BindInt64(1, session)
	out := map[int64][]string{}
	for stmt.Step() {
		n := stmt.ColumnInt64(0)
		out[n] = append(out[n], stmt.ColumnText(1))
	}
	return out, classify(stmt.Err())
}
