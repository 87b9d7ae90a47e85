package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make API tokens for the daemon's configuration",
		Args:  cobra.NoArgs,
	}
	var scopes string
	newCmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Print a new secret and the config stanza that admits it (only its SHA-256 goes in the config)",
		Example: `  packetrecorder token new analyst
  packetrecorder token new grafana --scopes metrics
  packetrecorder token new ops --scopes read,admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !tokenNameRE.MatchString(name) {
				return fmt.Errorf("invalid token name %q: letters, digits and ._@- (up to 64)", name)
			}
			var list []string
			for _, s := range strings.Split(scopes, ",") {
				s = strings.TrimSpace(s)
				switch s {
				case "read", "admin", "metrics":
					list = append(list, s)
				default:
					return fmt.Errorf("invalid scope %q: use read, admin, metrics", s)
				}
			}
			var raw [32]byte
			if _, err := rand.Read(raw[:]); err != nil {
				return err
			}
			secret := "prd_" + base64.RawURLEncoding.EncodeToString(raw[:])
			sum := sha256.Sum256([]byte(secret))
			fmt.Fprintf(a.stdout, "# The secret, shown once: give it to the client (PACKETRECORDER_TOKEN or --token-file).\n# %s\n", secret)
			fmt.Fprintf(a.stdout, "# Add this under tokens: in the daemon's configuration, then reload it (SIGHUP).\n")
			fmt.Fprintf(a.stdout, "  - name: %s\n    sha256: %x\n    scopes: [%s]\n", name, sum, strings.Join(list, ", "))
			return nil
		},
	}
	newCmd.Flags().StringVar(&scopes, "scopes", "read", "comma-separated scopes: read (packets, sessions, status), admin (holds), metrics")
	cmd.AddCommand(newCmd)
	return cmd
}
