// Command packetrecorder captures packets into a SQLite database, shows
// them, and replays them. See README.md.
package main

import (
	"os"

	"github.com/packetrecorderd/packetrecorderd/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
