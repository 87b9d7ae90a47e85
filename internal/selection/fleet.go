package selection

// A fleet source: a hub's selection over several sensors, each asked
// through its API (GET /api/v1/packets, as --server asks one daemon), in
// parallel, their streams merged by timestamp. A sensor that does not
// answer is named (Selection.Missing), never silently left out.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// DefaultSensorTimeout is how long a hub waits for a sensor's describe,
// count, or the next bytes of its stream, before it names the sensor
// missing.
const DefaultSensorTimeout = time.Minute

// Fleet is the sensors a hub asks for one selection (Remote.Fleet), as
// its planner chose them, with what it already knows is missing or
// expired.
type Fleet struct {
	Sensors []FleetSensor
	// Missing are sensors that may hold packets of the selection but
	// could not be asked (no client); they are part of every answer.
	Missing []Missing
	// Expired is what the sensors' retention deleted of the window.
	Expired []Expired
	// Timeout bounds each sensor's answer and each pause in its stream
	// (0: DefaultSensorTimeout).
	Timeout time.Duration
}

// FleetSensor is one sensor to ask: its name, its client (the hub's
// credentials), and the interface to ask it for ("" for all).
type FleetSensor struct {
	Name      string
	Client    *Client
	Interface string
}

// fleetSource reads a selection from several sensors.
type fleetSource struct {
	spec    Spec
	timeout time.Duration
	members []*fleetMember // the sensors that answered describe, in order

	mu      sync.Mutex
	missing []Missing
	expired []Expired
}

// fleetMember is one sensor of a fleet source: its own remote source,
// and where its interfaces' ids start in the merged numbering.
type fleetMember struct {
	name string
	rs   *remoteSource
	base int
}

// sensorQuery is what a sensor is asked for one window: the interface,
// the window, the filter with the forced one ANDed on (the sensor
// applies both).
func sensorQuery(spec Spec, iface string, r store.Range, expr string) url.Values {
	q := url.Values{}
	if f := joined(expr, spec.ForcedFilter); f != "" {
		q.Set("filter", f)
	}
	if iface != "" {
		q.Set("interface", iface)
	}
	if spec.CommunityID != "" {
		q.Set("community_id", spec.CommunityID)
		q.Set("community_id_seed", strconv.Itoa(int(spec.CommunityIDSeed)))
	}
	if r.HasSince {
		q.Set("since", time.Unix(0, r.Since).UTC().Format(time.RFC3339Nano))
	}
	if r.HasUntil {
		q.Set("until", time.Unix(0, r.Until).UTC().Format(time.RFC3339Nano))
	}
	return q
}

// openFleet asks each sensor of spec's fleet to describe the selection
// (in parallel, each within the timeout) and builds the merged shape:
// each sensor interface one interface, named SENSOR/IFACE.
func openFleet(ctx context.Context, spec Spec) (*remoteSource, error) {
	fl := spec.Server.Fleet
	// The filter is checked here, so that a mistake is the client's
	// (or the token's) and no sensor is asked.
	exprs := []string{spec.Filter}
	for _, w := range spec.Windows {
		exprs = append(exprs, w.Filter)
	}
	for _, e := range exprs {
		if _, err := compileSpec(e, spec.ForcedFilter, []uint32{1}, 1, filter.ZeroNetmask); err != nil {
			return nil, err
		}
	}
	f := &fleetSource{spec: spec, timeout: fl.Timeout, missing: slices.Clone(fl.Missing), expired: slices.Clone(fl.Expired)}
	if f.timeout <= 0 {
		f.timeout = DefaultSensorTimeout
	}
	shapes := make([]*remoteSource, len(fl.Sensors))
	errs := make([]error, len(fl.Sensors))
	var wg sync.WaitGroup
	for i, s := range fl.Sensors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			expr := spec.Filter
			if len(spec.Windows) > 0 {
				expr = "" // the hull: Stenographer's windows are read in turn
			}
			rs := &remoteSource{c: s.Client, q: sensorQuery(spec, s.Interface, spec.Range, expr), ids: map[string]int{}}
			tctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			sh, err := fleetShape(tctx, s.Client, s.Interface)
			if err != nil {
				if tctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("no answer within %s", f.timeout)
				}
				errs[i] = err
				return
			}
			rs.shape = sh
			for _, it := range rs.shape.Interfaces {
				rs.ids[it.Name] = it.ID
			}
			shapes[i] = rs
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := &remoteSource{fleet: f, ids: map[string]int{}}
	sh := &v.shape
	sh.LinkTypes, sh.Interfaces = []uint32{}, []DescriptionInterface{}
	base := 0
	for i, rs := range shapes {
		name := fl.Sensors[i].Name
		if rs == nil {
			f.missing = append(f.missing, Missing{Sensor: name, Error: sensorError(fl.Sensors[i].Client, errs[i])})
			continue
		}
		f.members = append(f.members, &fleetMember{name: name, rs: rs, base: base})
		next := base
		for _, it := range rs.shape.Interfaces {
			id := base + it.ID
			sh.Interfaces = append(sh.Interfaces, DescriptionInterface{ID: id, Name: name + "/" + it.Name,
				LinkType: it.LinkType, Snaplen: it.Snaplen, Filter: it.Filter})
			v.ids[name+"/"+it.Name] = id
			next = max(next, id+1)
		}
		base = next
		for _, lt := range rs.shape.LinkTypes {
			if !slices.Contains(sh.LinkTypes, lt) {
				sh.LinkTypes = append(sh.LinkTypes, lt)
			}
		}
		sh.Snaplen = max(sh.Snaplen, rs.shape.Snaplen)
		addSpan(sh, rs.shape)
	}
	slices.Sort(sh.LinkTypes)
	if spec.Limit > 0 {
		sh.Packets = min(sh.Packets, spec.Limit)
	}
	sh.Missing, sh.Expired = f.missingNow(), f.expired
	return v, nil
}

// addSpan adds a sensor's packets and their time span to the fleet's.
func addSpan(sh *Description, d Description) {
	if d.Packets > 0 {
		if sh.Packets == 0 || d.FirstNS < sh.FirstNS {
			sh.FirstNS = d.FirstNS
		}
		sh.LastNS = max(sh.LastNS, d.LastNS)
	}
	sh.Packets += d.Packets
}

// DescribeFleet is Describe for a hub's selection (ok false for others):
// the selected packets' number and span as the sensors count them, with
// the filters, each asked in parallel; the shape as opened (interfaces
// SENSOR/IFACE), the sensors that did not answer named.
func (sl *Selection) DescribeFleet(ctx context.Context) (Description, bool, error) {
	if sl.rem == nil || sl.rem.fleet == nil {
		return Description{}, false, nil
	}
	f := sl.rem.fleet
	d := sl.rem.shape
	d.Packets, d.FirstNS, d.LastNS = 0, 0, 0
	answers := make([]*Description, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := cloneValues(m.rs.q)
			q.Set("describe", "true")
			if len(f.spec.Windows) == 0 && f.spec.Limit > 0 {
				q.Set("limit", strconv.FormatInt(f.spec.Limit, 10))
			}
			tctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			var a Description
			if err := m.rs.c.GetJSON(tctx, "/api/v1/packets", q, &a); err != nil {
				if tctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("no answer within %s", f.timeout)
				}
				f.addMissing(m.name, m.rs.c, err)
				return
			}
			answers[i] = &a
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return d, true, err
	}
	for _, a := range answers {
		if a != nil {
			addSpan(&d, *a)
		}
	}
	if f.spec.Limit > 0 {
		d.Packets = min(d.Packets, f.spec.Limit)
	}
	d.Missing, d.Expired = f.missingNow(), f.expired
	return d, true, nil
}

// sensorError is why a sensor did not answer, in one line, without the
// client's host prefix (the sensor is named beside it).
func sensorError(c *Client, err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if c != nil {
		msg = strings.TrimPrefix(msg, c.Host()+": ")
	}
	return msg
}

func (f *fleetSource) addMissing(name string, c *Client, err error) {
	f.add(Missing{Sensor: name, Error: sensorError(c, err)})
}

// addInner adds what a sensor that is itself a hub said it lacks, each
// as SENSOR/ITS-SENSOR: its answer is partial, and so is this one.
func (f *fleetSource) addInner(name string, inner []Missing) {
	for _, in := range inner {
		f.add(Missing{Sensor: name + "/" + in.Sensor, Error: in.Error})
	}
}

// add adds m unless a sensor of its name is missing already.
func (f *fleetSource) add(m Missing) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.ContainsFunc(f.missing, func(have Missing) bool { return have.Sensor == m.Sensor }) {
		f.missing = append(f.missing, m)
	}
}

func (f *fleetSource) missingNow() []Missing {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.missing)
}

// count adds up the sensors' counts, asked in parallel.
func (f *fleetSource) count(ctx context.Context) (int64, error) {
	ns := make([]int64, len(f.members))
	var wg sync.WaitGroup
	for i, m := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := cloneValues(m.rs.q)
			q.Set("count", "true")
			tctx, cancel := context.WithTimeout(ctx, f.timeout)
			defer cancel()
			var n CountAnswer
			if err := m.rs.c.GetJSON(tctx, "/api/v1/packets", q, &n); err != nil {
				if tctx.Err() != nil && ctx.Err() == nil {
					err = fmt.Errorf("no answer within %s", f.timeout)
				}
				f.addMissing(m.name, m.rs.c, err)
				return
			}
			ns[i] = n.Count
			f.addInner(m.name, n.Missing) // a hub's own missing sensors
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var total int64
	for _, n := range ns {
		total += n
	}
	return total, nil
}

// fleetRecord is a record read ahead from a sensor (its own copy of the
// bytes), or the error that ended the sensor's stream.
type fleetRecord struct {
	rec store.Record
	err error
}

// stream merges the sensors' streams by timestamp, window after window
// (a Stenographer query's), at most limit packets from each sensor per
// window. Each sensor is read ahead by a goroutine of its own, so that
// all are asked at once; a sensor whose stream fails or stalls past the
// timeout is named missing and the others go on.
func (f *fleetSource) stream(ctx context.Context, limit int64) stream {
	return func(yield func(store.Record, error) bool) {
		windows := f.spec.Windows
		if len(windows) == 0 {
			windows = []Window{{Range: f.spec.Range, Filter: f.spec.Filter}}
		}
		for _, w := range windows {
			stopped, err := f.window(ctx, w, limit, yield)
			if err != nil {
				yield(store.Record{}, err)
				return
			}
			if stopped {
				return
			}
		}
	}
}

// window reads one window from every sensor that answered describe.
func (f *fleetSource) window(ctx context.Context, w Window, limit int64, yield func(store.Record, error) bool) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var streams []stream
	for _, m := range f.members {
		iface := m.rs.q.Get("interface")
		rs := &remoteSource{c: m.rs.c, q: sensorQuery(f.spec, iface, w.Range, w.Filter), ids: m.rs.ids}
		ch := make(chan fleetRecord, 256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			f.readSensor(ctx, m, rs, limit, ch)
		}()
		streams = append(streams, func(yield func(store.Record, error) bool) {
			for fr := range ch {
				if fr.err != nil {
					if ctx.Err() != nil {
						yield(store.Record{}, ctx.Err())
						return
					}
					f.addMissing(m.name, m.rs.c, fr.err)
					return // the others go on: the answer names this one
				}
				if !yield(fr.rec, nil) {
					return
				}
			}
		})
	}
	if len(streams) == 0 {
		return false, nil
	}
	err = merge(streams, func(rec store.Record) (bool, error) {
		if !yield(rec, nil) {
			stopped = true
			return false, nil
		}
		return true, nil
	})
	return stopped, err
}

// readSensor reads one sensor's stream into ch, each record's bytes
// copied and its interface renumbered; a pause longer than the timeout
// ends it with an error.
func (f *fleetSource) readSensor(ctx context.Context, m *fleetMember, rs *remoteSource, limit int64, ch chan<- fleetRecord) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stalled := false
	var mu sync.Mutex
	timer := time.AfterFunc(f.timeout, func() {
		mu.Lock()
		stalled = true
		mu.Unlock()
		cancel()
	})
	defer timer.Stop()
	// A sensor walking a long window that finds little says it is there.
	rs.keepalive = min(max(f.timeout/4, time.Second), time.Minute)
	rs.alive = func() { timer.Reset(f.timeout) }
	defer func() { f.addInner(m.name, rs.missing) }() // what its end line said it lacks
	err := rs.read(sctx, limit, func(rec store.Record, err error) bool {
		if err != nil {
			return false
		}
		rec.Data = slices.Clone(rec.Data)
		rec.Interface += m.base
		// The timeout is the sensor's: it does not run while the record
		// waits for the merge, which holds this stream while another
		// sensor's earlier packets go out, or for a slow client.
		if !timer.Stop() {
			return false // it fired: the sensor stalled before this record
		}
		select {
		case ch <- fleetRecord{rec: rec}:
			timer.Reset(f.timeout)
			return true
		case <-ctx.Done():
			return false
		}
	})
	timer.Stop()
	mu.Lock()
	if stalled && ctx.Err() == nil {
		err = fmt.Errorf("no answer for %s", f.timeout)
	}
	mu.Unlock()
	if err == nil && sctx.Err() != nil && ctx.Err() == nil {
		err = errors.New("the stream ended early")
	}
	if err != nil {
		select {
		case ch <- fleetRecord{err: err}:
		case <-ctx.Done():
		}
	}
}

// Missing are the sensors of a hub's selection that did not answer so
// far (a fleet's own, or what a hub's answer said); nil for others.
func (sl *Selection) Missing() []Missing {
	if sl.rem == nil {
		return nil
	}
	if sl.rem.fleet != nil {
		return sl.rem.fleet.missingNow()
	}
	if sl.rem.missing != nil {
		return sl.rem.missing
	}
	return sl.rem.shape.Missing
}

// Expired is what a hub's sensors' retention deleted of the selection's
// window; nil for others.
func (sl *Selection) Expired() []Expired {
	if sl.rem == nil {
		return nil
	}
	if sl.rem.fleet != nil {
		return sl.rem.fleet.expired
	}
	if sl.rem.expired != nil {
		return sl.rem.expired
	}
	return sl.rem.shape.Expired
}

// Sensor names the sensor of a hub's record ("" for other sources).
func (sl *Selection) Sensor(rec store.Record) string {
	if sl.rem == nil || sl.rem.fleet == nil {
		return ""
	}
	ms := sl.rem.fleet.members
	for i := len(ms) - 1; i >= 0; i-- {
		if rec.Interface >= ms[i].base {
			return ms[i].name
		}
	}
	return ""
}

// PartialError is a hub's answer that lacks sensors: what they did not
// answer is missing, the rest is whole.
type PartialError struct{ Missing []Missing }

func (e *PartialError) Error() string {
	names := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		names[i] = m.Sensor
	}
	return fmt.Sprintf("a partial answer: %d sensors did not answer (%s)", len(e.Missing), strings.Join(names, ", "))
}

// ShapeTTL is how long a hub keeps a sensor's shape: the interfaces and
// link types it records change only when its configuration does.
const ShapeTTL = 10 * time.Second

type cachedShape struct {
	d  Description
	at time.Time
}

// fleetShape is what a hub needs of a sensor before it streams: its
// interfaces (names, link types, snaplens) of iface ("" all), from a
// describe without a filter or window (answered from the block index,
// without reading packets), kept ShapeTTL. Its packet counts and span
// are the sensor's whole store's: DescribeFleet counts a selection.
func fleetShape(ctx context.Context, c *Client, iface string) (Description, error) {
	c.mu.Lock()
	cs, ok := c.shapes[iface]
	c.mu.Unlock()
	if ok && time.Since(cs.at) < ShapeTTL {
		return cs.d, nil
	}
	q := url.Values{"describe": {"true"}}
	if iface != "" {
		q.Set("interface", iface)
	}
	var d Description
	if err := c.GetJSON(ctx, "/api/v1/packets", q, &d); err != nil {
		return d, err
	}
	c.mu.Lock()
	if c.shapes == nil {
		c.shapes = map[string]cachedShape{}
	}
	c.shapes[iface] = cachedShape{d: d, at: time.Now()}
	c.mu.Unlock()
	return d, nil
}

// SpecPlan is the block index's plan of spec as a store selection of it
// makes it (Selection.Plan): filter.Plan of the request's filter with the
// forced filter ANDed on (each Stenographer window's, ORed), index.All
// where the planner cannot narrow. A hub matches it against the
// sensors' segment summaries exactly as their stores do.
func SpecPlan(spec Spec) index.Expr {
	one := func(expr string) index.Expr {
		if full, err := filter.And(spec.ForcedFilter, expr); err == nil && full != "" {
			return planOf(full)
		}
		return index.All
	}
	if len(spec.Windows) == 0 {
		return one(spec.Filter)
	}
	plans := make([]index.Expr, 0, len(spec.Windows))
	for _, w := range spec.Windows {
		plans = append(plans, one(w.Filter))
	}
	return index.Or(plans...)
}
