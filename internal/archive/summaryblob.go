package archive

import "fmt"

// SummaryBlob is a closed segment's summary as the catalog holds it
// (segment_summaries: the sketch's bytes, a copy the caller may keep, and
// its pairs flag), checked as Summary checks it: it covers the segment's
// packets and has a sketch's layout. A fleet sensor ships it with the
// segment's row, for the hub to match plans against. A segment without a
// usable one is ErrNoSummary.
func (a *Archive) SummaryBlob(s Segment) (SegmentSummary, error) {
	sum, err := a.Summary(s)
	if err != nil {
		return SegmentSummary{}, fmt.Errorf("summary: %w", err)
	}
	sum.Sketch = append(sum.Sketch[:0:0], sum.Sketch...)
	return sum, nil
}
