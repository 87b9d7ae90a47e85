//go:build !unix

package cli

import "fmt"

func dropPrivileges(name string, files ...string) error {
	return fmt.Errorf("--user is not supported on this system")
}
