package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make API tokens for the daemon's configuration",
		Args:  cobra.NoArgs,
	}
	var scopes, appendTo string
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
			stanza := fmt.Sprintf("  - name: %s\n    sha256: %x\n    scopes: [%s]\n", name, sum, strings.Join(list, ", "))
			fmt.Fprintf(a.stdout, "# The secret, shown once: give it to the client (PACKETRECORDER_TOKEN or --token-file).\n# %s\n", secret)
			if appendTo != "" {
				// Only the stanza (the secret's hash) goes into the file.
				if err := daemon.AppendTokenStanza(appendTo, name, stanza); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "# Added to %s; reload the daemon (SIGHUP) to admit it.\n", appendTo)
				return nil
			}
			fmt.Fprintf(a.stdout, "# Add this under tokens: in the daemon's configuration, then reload it (SIGHUP).\n")
			fmt.Fprint(a.stdout, stanza)
			return nil
		},
	}
	newCmd.Flags().StringVar(&appendTo, "append", "", "append the stanza (not the secret) to this tokens file, the daemon's tokens_file")
	newCmd.Flags().StringVar(&scopes, "scopes", "read", "comma-separated scopes: read (packets, sessions, status), admin (holds), metrics")
	cmd.AddCommand(newCmd)
	return cmd
}
