package cli

import (
	"github.com/spf13/cobra"

	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// remoteFlags say which daemon to ask, and how to prove who we are.
type remoteFlags struct {
	selpkg.Remote
}

func (f *remoteFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.Server, "server", "", "ask a daemon's API instead of a local database (e.g. https://sensor1:7474)")
	cmd.Flags().StringVar(&f.TokenFile, "token-file", "", "file holding the API token (default: $PACKETRECORDER_TOKEN)")
	cmd.Flags().StringVar(&f.CACert, "cacert", "", "with --server: CA certificate (PEM) that signed the daemon's certificate")
	cmd.Flags().StringVar(&f.Cert, "cert", "", "with --server: client certificate (PEM), for mutual TLS")
	cmd.Flags().StringVar(&f.Key, "key", "", "with --server: the client certificate's key (PEM)")
	cmd.Flags().BoolVar(&f.PartialOK, "partial-ok", false, "with --server HUB: accept an answer some sensors could not give (they are still named on stderr)")
}
