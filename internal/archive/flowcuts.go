package archive

import "github.com/packetrecorderd/packetrecorderd/internal/store"

// AddFlowCuts records the flows a recorder's cutoff cut (see
// store.Writer.AddFlowCuts) in the open segment's transaction, so that
// they commit with its blocks. With no segment open (the recording ended
// with the last one closed) there is nowhere to put them: they are not
// recorded, and a listing of a keep: none flow counts only its stored
// packets.
func (r *Recording) AddFlowCuts(cuts []store.FlowCut) error {
	if r.seg == nil {
		return nil
	}
	return r.seg.w.AddFlowCuts(cuts)
}
