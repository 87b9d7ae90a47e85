// Package selection owns the choice of packets every reader makes: which
// packets of which source, in which order, counted and cut how. The CLI
// (query, export, replay, flows, filter -r), the daemon's API
// (/api/v1/packets, Stenographer's POST /query) and the CLI's client of
// that API (--server) all turn their inputs into a Spec and read through
// this package; none of them walks packets itself.
//
// Data flows in one direction:
//
//	Spec ──Open──▶ source (a database's session or sessions, a store's
//	               recordings, a capture file, a daemon's API)
//	            │  the filter compiled once per link type, a token's
//	            │  forced filter ANDed on
//	            ▼
//	      streams: one per session / recording / file, each in time
//	            │  order; readSession is the one place a database's
//	            │  blocks are read (the planner's hook), keep the one
//	            │  place a packet is checked and matched
//	            ▼
//	      Walk: the streams merged by timestamp, each packet emitted,
//	            counted and cut at the limit, in one loop
//
// The wire types (wire.go) are what the API sends and the CLI's client
// decodes: a packet as JSON, the end line of a stream, a selection's
// description, a store's recordings. They are defined here, below both.
package selection
