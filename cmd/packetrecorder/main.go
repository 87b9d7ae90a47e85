// Command packetrecorder captures packets into a SQLite database, shows
// them, and replays them. See README.md.
package main

import (
	"os"

	"github.com/packetrecorderd/packetrecorderd/internal/cli"
)

func main() {
	// Packets carry passwords and cookies: every file the process
	// creates, SQLite's journals included, is private to its owner.
	cli.PrivateFiles()
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
