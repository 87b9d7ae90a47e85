package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgPool keeps a few idle PostgreSQL connections for the hub's requests:
// each request takes one (or opens one) and gives it back when done.
type pgPool struct {
	cfg  *pgx.ConnConfig
	idle chan *pgx.Conn
}

// maxIdle is how many connections the pool keeps open between requests.
const maxIdle = 8

func newPGPool(dsn string) (*pgPool, error) {
	cfg, err := parsePostgres(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &pgPool{cfg: cfg, idle: make(chan *pgx.Conn, maxIdle)}, nil
}

// with runs fn on a connection; a connection fn failed on is closed, not
// kept (it may be broken). fn only reads: when a kept connection turns
// out broken (the server restarted since), fn runs again on a new one.
func (p *pgPool) with(ctx context.Context, fn func(c *pgx.Conn) error) error {
	var c *pgx.Conn
	reused := false
	select {
	case c = <-p.idle:
		reused = true
	default:
		var err error
		if c, err = pgx.ConnectConfig(ctx, p.cfg); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	err := fn(c)
	if err != nil || c.IsClosed() {
		c.Close(context.Background())
		if reused && err != nil && ctx.Err() == nil && unreachable(err) {
			p.close() // the others are as old
			return p.with(ctx, fn)
		}
		return err
	}
	select {
	case p.idle <- c:
	default:
		c.Close(context.Background())
	}
	return nil
}

// close closes the idle connections.
func (p *pgPool) close() {
	for {
		select {
		case c := <-p.idle:
			c.Close(context.Background())
		default:
			return
		}
	}
}

// unreachable says err is PostgreSQL out of reach (no connection, or
// the server shutting down), not an answer to the statement.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return true
}
