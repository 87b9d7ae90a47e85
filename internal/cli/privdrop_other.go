//go:build !unix

package cli

import "errors"

func PrivateFiles() {}

type runAs struct{}

func lookupUser(name string) (runAs, error) {
	return runAs{}, errors.New("--user is not supported on this system")
}

func dropPrivileges(runAs, ...string) error {
	return errors.New("--user is not supported on this system")
}
