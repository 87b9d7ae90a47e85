package fleet

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Config is the daemon configuration's fleet block: where this sensor's
// flow records and segment summaries go.
type Config struct {
	// Sensor is this sensor's name, unique in the fleet.
	Sensor string `yaml:"sensor"`
	// Postgres is the database's connection string (a postgres:// URL or
	// key=value pairs, as libpq and pgx read them). Its password comes
	// from PasswordFile, else from PGPASSFILE (or ~/.pgpass).
	Postgres string `yaml:"postgres"`
	// URL is how the hub reaches this sensor's API.
	URL string `yaml:"url"`
	// PasswordFile holds the database password (its first line).
	PasswordFile string `yaml:"postgres_password_file"`
	// OutboxMax bounds the outbox on the store's disk, in bytes (0:
	// DefaultOutboxMax). The daemon's config reads it as a size.
	OutboxMax int64 `yaml:"-"`
}

// Problem is one mistake in the fleet block: Key is the key under
// fleet: ("sensor", "postgres", ...).
type Problem struct {
	Key, Msg string
}

func (p Problem) Error() string { return "fleet." + p.Key + ": " + p.Msg }

var sensorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Problems lists every mistake in c, one line each.
func (c *Config) Problems() []Problem {
	var out []Problem
	add := func(key, format string, args ...any) {
		out = append(out, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Sensor == "":
		add("sensor", "required: this sensor's name, unique in the fleet")
	case !sensorName.MatchString(c.Sensor):
		add("sensor", "%q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Sensor)
	}
	if c.Postgres == "" {
		add("postgres", "required: the database's connection string (postgres://USER@HOST/DB)")
	} else if _, err := pgx.ParseConfig(c.Postgres); err != nil {
		add("postgres", "%s", oneLine(redact(err.Error(), c.Postgres)))
	}
	if c.URL == "" {
		add("url", "required: how the hub reaches this sensor's API (https://HOST:PORT)")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url", "%q is not an http:// or https:// URL with a host", c.URL)
	}
	if c.PasswordFile != "" {
		if _, err := readPassword(c.PasswordFile); err != nil {
			add("postgres_password_file", "%s", oneLine(err.Error()))
		}
	}
	if c.OutboxMax != 0 && c.OutboxMax < MinOutboxMax {
		add("outbox_max", "at least 1MiB")
	}
	return out
}

// Validate is Problems as one error (nil when there are none).
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.Problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// connConfig is the pgx configuration, with the password file's password.
func (c *Config) connConfig() (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(c.Postgres)
	if err != nil {
		return nil, fmt.Errorf("fleet.postgres: %s", oneLine(redact(err.Error(), c.Postgres)))
	}
	if c.PasswordFile != "" {
		pw, err := readPassword(c.PasswordFile)
		if err != nil {
			return nil, err
		}
		cc.Password = pw
	}
	cc.RuntimeParams["application_name"] = "packetrecorderd " + c.Sensor
	// A batch's staging table and the upsert's sort stay in memory
	// (PostgreSQL's defaults, 8MB and 4MB, spill a batch of 50,000 to
	// temporary files), unless the connection string says otherwise.
	for k, v := range map[string]string{"temp_buffers": "64MB", "work_mem": "64MB"} {
		if _, ok := cc.RuntimeParams[k]; !ok {
			cc.RuntimeParams[k] = v
		}
	}
	return cc, nil
}

func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("postgres password: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("postgres password: %s is empty", path)
	}
	return line, nil
}

// redact keeps a connection string's password out of a message.
func redact(msg, dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
