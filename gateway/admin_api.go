package gateway

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

//go:embed admin-openapi.yaml
var adminOpenAPIFS embed.FS

// AdminAPIOptions configure the admin API (docs/admin.md): its own
// listener, never the portal API's, with its own principals and roles.
type AdminAPIOptions struct {
	// Addr is the admin API's listener ("" or "off": no admin API).
	Addr string
	// TLS, when set, serves it over TLS; with ClientAuth and ClientCAs
	// set, principals can authenticate by client certificate.
	TLS *tls.Config
	// Principals are who may call it, with their roles.
	Principals []AdminPrincipal
}

// enabled reports whether the admin API is configured.
func (o AdminAPIOptions) enabled() bool { return o.Addr != "" && o.Addr != "off" }

// maxAdminBody bounds an admin request body (a certificate of MaxDERLen
// in PEM fits).
const maxAdminBody = 64 << 10

// AdminStore is what the admin API needs of the session store;
// *sessions.Store implements it.
type AdminStore interface {
	RegisterSubscriber(ctx context.Context, sub sessions.Subscriber, userID string) (string, error)
	SubscriberProfile(ctx context.Context, phone string) (sessions.Profile, error)
	UpdateSubscriber(ctx context.Context, phone string, fn func(*sessions.Subscriber) error) (sessions.Subscriber, error)
	SetSubscriberState(ctx context.Context, phone, state string) error
	ResetUserID(ctx context.Context, phone string) (string, error)
	ResetLockout(ctx context.Context, phone string) (int, error)
	SwapSIM(ctx context.Context, phone, iccid string, keyVersion int) error
	ChangeNumber(ctx context.Context, phone, newPhone, userID string) (string, error)
	Usage(ctx context.Context, from, to time.Time) ([]sessions.UsageRow, error)
}

var _ AdminStore = (*sessions.Store)(nil)

// AdminTrail is what the admin API needs of the audit trail;
// *audit.Trail implements it.
type AdminTrail interface {
	AppendSync(ctx context.Context, rec audit.Record) error
	Phone(msisdn string) audit.Phone
	Export(ctx context.Context, w io.Writer, from, to time.Time) error
	Verify(ctx context.Context, from, to time.Time) (*audit.Report, error)
}

var _ AdminTrail = (*audit.Trail)(nil)

// adminAPI serves the admin API: authentication, authorisation by role,
// an audit record written durably before every answer, then the handler.
type adminAPI struct {
	store      AdminStore
	sessions   Store
	done       *completer
	trail      AdminTrail
	principals *adminPrincipals
	log        *slog.Logger
	now        func() time.Time
	calls      *prometheus.CounterVec
	handler    http.Handler
}

// newAdminAPI builds the admin API over the gateway's parts.
func newAdminAPI(opts AdminAPIOptions, store AdminStore, c *core, trail AdminTrail, reg prometheus.Registerer) (*adminAPI, error) {
	if trail == nil {
		return nil, errors.New("gateway: the admin API needs the audit trail (set the audit signing and phone keys)")
	}
	ps, err := newAdminPrincipals(opts.Principals)
	if err != nil {
		return nil, err
	}
	a := &adminAPI{
		store: store, sessions: c.opts.Store, done: c.done, trail: trail, principals: ps,
		log: c.opts.Logger.With("component", "admin"), now: c.opts.Now,
		calls: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_admin_calls_total", Help: "Admin API calls by action and outcome code (ok or a problem code).",
		}, []string{"action", "outcome"}),
	}
	a.handler = a.routes()
	return a, nil
}

// adminAction is one admin endpoint: its name in the audit trail and
// metrics, the roles allowed, whether it changes state (two audit
// records: the intent before the change, the outcome after) and its
// handler.
type adminAction struct {
	name    string
	roles   []string
	changes bool
	prepare func(c *adminCall) (adminApply, error)
}

// adminApply performs a prepared call; it returns the status and body of
// the answer.
type adminApply func(ctx context.Context) (int, any, error)

// adminCall is one admin request as its handler sees it.
type adminCall struct {
	r       *http.Request
	w       http.ResponseWriter
	p       *AdminPrincipal
	role    string
	phone   string // the subscriber concerned, for the record's phone HMAC
	session string
	cert    string
	details map[string]string
	// stream: the apply wrote the answer itself (after the record).
	stream bool
}

// detail adds a detail to the call's audit records.
func (c *adminCall) detail(k, v string) {
	if c.details == nil {
		c.details = map[string]string{}
	}
	c.details[k] = v
}

// routes registers every admin endpoint.
func (a *adminAPI) routes() http.Handler {
	mux := http.NewServeMux()
	for pattern, act := range a.actions() {
		mux.Handle(pattern, a.serve(pattern, act))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &Error{Code: CodeNotFound, Detail: "no such admin endpoint (see /admin/v1/openapi.yaml)"})
	})
	return mux
}

// serve wraps an action: authenticate, authorise, prepare, then record and
// apply in the order docs/admin.md §4 gives.
func (a *adminAPI) serve(pattern string, act adminAction) http.Handler {
	ref := strings.TrimSpace(pattern[strings.IndexByte(pattern, ' ')+1:])
	method := pattern[:strings.IndexByte(pattern, ' ')]
	ref = method + " " + ref
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		p, err := a.principals.authenticate(r)
		if err != nil {
			a.calls.WithLabelValues(act.name, CodeUnauthorized).Inc()
			a.log.LogAttrs(r.Context(), slog.LevelWarn, "admin call unauthenticated", slog.String("action", act.name))
			a.writeError(w, r, err)
			return
		}
		c := &adminCall{r: r, w: w, p: p, role: p.may(act.roles)}
		if c.role == "" {
			c.role = p.Roles[0]
			a.finish(w, r, act, ref, c, &Error{Code: CodeAdminForbidden,
				Detail: "role(s) " + strings.Join(p.Roles, ", ") + " may not " + act.name + "; it needs " + strings.Join(act.roles, " or ")})
			return
		}
		apply, err := act.prepare(c)
		if err != nil {
			a.finish(w, r, act, ref, c, err)
			return
		}
		if act.changes {
			// The intent first: a change the trail cannot record is not made.
			if err := a.record(r.Context(), act, ref, c, "requested"); err != nil {
				a.calls.WithLabelValues(act.name, CodeAuditUnavailable).Inc()
				a.writeError(w, r, err)
				return
			}
		}
		status, body, err := apply(r.Context())
		if err != nil {
			a.finish(w, r, act, ref, c, err)
			return
		}
		if c.stream {
			a.calls.WithLabelValues(act.name, "ok").Inc()
			return
		}
		if err := a.record(r.Context(), act, ref, c, "ok"); err != nil {
			a.calls.WithLabelValues(act.name, CodeAuditUnavailable).Inc()
			a.writeError(w, r, err)
			return
		}
		a.calls.WithLabelValues(act.name, "ok").Inc()
		writeJSON(w, status, body)
	})
}

// finish records a refused or failed call and answers its error; when the
// record itself fails the answer is AUDIT_UNAVAILABLE.
func (a *adminAPI) finish(w http.ResponseWriter, r *http.Request, act adminAction, ref string, c *adminCall, err error) {
	code := errorCode(err).Code
	if rerr := a.record(r.Context(), act, ref, c, code); rerr != nil {
		a.calls.WithLabelValues(act.name, CodeAuditUnavailable).Inc()
		a.writeError(w, r, rerr)
		return
	}
	a.calls.WithLabelValues(act.name, code).Inc()
	a.writeError(w, r, err)
}

// record writes one admin.call record durably (AppendSync).
func (a *adminAPI) record(ctx context.Context, act adminAction, ref string, c *adminCall, outcome string) error {
	rec := audit.Record{
		Kind: audit.KindAdminCall, Actor: audit.Actor{ID: c.p.ID, Role: c.role},
		Subject: audit.Subject{Session: c.session, Cert: c.cert, Ref: ref}, Outcome: outcome,
		Details: map[string]string{"action": act.name},
	}
	for k, v := range c.details {
		rec.Details[k] = v
	}
	if c.phone != "" {
		rec.Phone = a.trail.Phone(c.phone)
	}
	if err := a.trail.AppendSync(context.WithoutCancel(ctx), rec); err != nil {
		a.log.LogAttrs(ctx, slog.LevelError, "admin call not audited", slog.String("action", act.name), slog.String("err", err.Error()))
		if !errors.Is(err, audit.ErrNotDurable) {
			err = errors.Join(audit.ErrNotDurable, err)
		}
		return err
	}
	return nil
}

// writeError answers an admin error as problem+json, as the portal API
// does (errorCode maps it), with the admin's own wording for not found.
func (a *adminAPI) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorCode(err)
	status, ok := codeStatus[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		a.log.LogAttrs(r.Context(), slog.LevelError, "admin call failed", slog.String("code", e.Code), slog.String("err", err.Error()))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.Code == CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imzagate-admin"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type: "https://imzagate.az/problems/" + e.Code, Title: codeTitle[e.Code], Status: status,
		Detail: e.Detail, Instance: r.URL.Path, Code: e.Code, Field: e.Field,
	})
}

// decodeAdmin reads a JSON body strictly (unknown fields are errors) of at
// most maxAdminBody octets.
func decodeAdmin(c *adminCall, v any) error {
	mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &Error{Code: CodeUnsupportedMediaType, Detail: "send the body as application/json"}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxAdminBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Code: CodeRequestTooLarge, Detail: "the body exceeds " + strconv.Itoa(maxAdminBody) + " bytes"}
		}
		return invalid("", "cannot read the body")
	}
	return decodeBodyUpTo(data, v, maxAdminBody)
}

// conflictDetail is the safe text of a sessions.ErrConflict: the store's
// reason without its package prefixes.
func conflictDetail(err error) string {
	msg := err.Error()
	msg = strings.TrimSuffix(msg, ": "+sessions.ErrConflict.Error())
	for {
		rest, ok := strings.CutPrefix(msg, "sessions: ")
		if !ok {
			break
		}
		msg = rest
	}
	if msg == "" || msg == sessions.ErrConflict.Error() {
		return "the subscriber's state does not allow this change"
	}
	return msg
}

// Handler is the admin API's HTTP handler.
func (a *adminAPI) Handler() http.Handler { return a.handler }
