package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

// actions lists every admin endpoint with its roles (docs/admin.md §2).
func (a *adminAPI) actions() map[string]adminAction {
	all := adminRoles
	sub := "/admin/v1/subscribers/{phone}"
	return map[string]adminAction{
		"GET /admin/v1/whoami":                          {"whoami", all, false, a.whoami},
		"GET /admin/v1/openapi.yaml":                    {"openapi", all, false, a.openapi},
		"POST /admin/v1/subscribers":                    {"subscriber.register", []string{RoleCA}, true, a.register},
		"GET " + sub:                                    {"subscriber.get", []string{RoleSupport, RoleCA, RoleSRE}, false, a.profile},
		"POST " + sub + "/sim-swap":                     {"subscriber.swap_sim", []string{RoleSupport}, true, a.swapSIM},
		"POST " + sub + "/number":                       {"subscriber.change_number", []string{RoleSupport}, true, a.changeNumber},
		"POST " + sub + "/suspend":                      {"subscriber.suspend", []string{RoleSupport}, true, a.setState(sessions.SubscriberSuspended)},
		"POST " + sub + "/resume":                       {"subscriber.resume", []string{RoleSupport}, true, a.setState(sessions.SubscriberActive)},
		"POST " + sub + "/close":                        {"subscriber.close", []string{RoleSupport, RoleCA}, true, a.setState(sessions.SubscriberClosed)},
		"POST " + sub + "/user-id":                      {"userid.reset", []string{RoleSupport}, true, a.resetUserID},
		"POST " + sub + "/lockout":                      {"lockout.reset", []string{RoleSupport}, true, a.resetLockout},
		"GET " + sub + "/certificates":                  {"cert.list", []string{RoleCA, RoleSupport, RoleSRE}, false, a.certList},
		"POST " + sub + "/certificates":                 {"cert.add", []string{RoleCA}, true, a.certAdd},
		"POST " + sub + "/certificates/{serial}/status": {"cert.status", []string{RoleCA}, true, a.certStatus},
		"GET /admin/v1/sessions/{id}":                   {"session.get", []string{RoleSupport, RoleSRE}, false, a.sessionGet},
		"DELETE /admin/v1/sessions/{id}":                {"session.cancel", []string{RoleSupport}, true, a.sessionCancel},
		"GET /admin/v1/audit/verify":                    {"audit.verify", []string{RoleAuditor}, false, a.auditVerify},
		"GET /admin/v1/audit/export":                    {"audit.export", []string{RoleAuditor}, false, a.auditExport},
		"GET /admin/v1/usage":                           {"usage.export", []string{RoleAuditor}, false, a.usage},
	}
}

func (a *adminAPI) whoami(c *adminCall) (adminApply, error) {
	return func(context.Context) (int, any, error) {
		return http.StatusOK, map[string]any{"id": c.p.ID, "roles": c.p.Roles}, nil
	}, nil
}

func (a *adminAPI) openapi(c *adminCall) (adminApply, error) {
	return func(context.Context) (int, any, error) {
		c.stream = true
		if err := a.record(c.r.Context(), adminAction{name: "openapi"}, "GET /admin/v1/openapi.yaml", c, "ok"); err != nil {
			return 0, nil, err
		}
		b, _ := adminOpenAPIFS.ReadFile("admin-openapi.yaml")
		c.w.Header().Set("Content-Type", "application/yaml")
		_, _ = c.w.Write(b)
		return 0, nil, nil
	}, nil
}

// pathPhone reads and normalises the {phone} of the path.
func pathPhone(c *adminCall) error {
	p, err := normalizePhone(c.r.PathValue("phone"))
	if err != nil {
		return invalid("phone", "%v", err)
	}
	c.phone = p
	return nil
}

// notFound turns the store's not found into the subscriber's.
func notFound(err error) error {
	if errors.Is(err, sessions.ErrNotFound) {
		return &Error{Code: CodeSubscriberNotFound, Detail: "no subscriber has this phone number"}
	}
	return err
}

// registerRequest is the body of POST /admin/v1/subscribers.
type registerRequest struct {
	Phone        string        `json:"phone"`
	ICCID        string        `json:"iccid"`
	KeyVersion   int           `json:"keyVersion"`
	Operator     string        `json:"operator"`
	UserID       string        `json:"userId"`
	Suspended    bool          `json:"suspended"`
	Certificates []certRequest `json:"certificates"`
}

func (a *adminAPI) register(c *adminCall) (adminApply, error) {
	var req registerRequest
	if err := decodeAdmin(c, &req); err != nil {
		return nil, err
	}
	phone, err := normalizePhone(req.Phone)
	if err != nil {
		return nil, invalid("phone", "%v", err)
	}
	c.phone = phone
	if err := checkICCID(req.ICCID, "iccid"); err != nil {
		return nil, err
	}
	if req.KeyVersion == 0 {
		req.KeyVersion = 1
	}
	if req.KeyVersion < 1 || req.KeyVersion > 15 {
		return nil, invalid("keyVersion", "an OTA key version 1–15")
	}
	if req.UserID != "" && !validUserID(req.UserID) {
		return nil, invalid("userId", "the User ID is exactly 6 digits (or leave it out to have one drawn)")
	}
	if req.Operator == "" || !validOperatorName(req.Operator) {
		return nil, invalid("operator", "the operator's routing name, up to 32 of [a-z0-9._-]")
	}
	sub := sessions.Subscriber{Phone: phone, ICCID: req.ICCID, KeyVersion: req.KeyVersion, Operator: req.Operator}
	if req.Suspended {
		sub.State = sessions.SubscriberSuspended
	}
	for i, cr := range req.Certificates {
		cert, err := cr.certificate(fmt.Sprintf("certificates[%d].", i))
		if err != nil {
			return nil, err
		}
		sub.Certificates = append(sub.Certificates, cert)
	}
	c.detail("iccid_tail", tail(req.ICCID))
	c.detail("certificates", strconv.Itoa(len(sub.Certificates)))
	return func(ctx context.Context) (int, any, error) {
		uid, err := a.store.RegisterSubscriber(ctx, sub, req.UserID)
		if err != nil {
			return 0, nil, err
		}
		body := map[string]any{"phone": audit.MaskPhone(phone), "state": sub.StateOf()}
		if uid != "" {
			body["userId"] = uid // shown once, never stored in clear
		}
		return http.StatusCreated, body, nil
	}, nil
}

func (a *adminAPI) profile(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		p, err := a.store.SubscriberProfile(ctx, c.phone)
		if err != nil {
			return 0, nil, notFound(err)
		}
		return http.StatusOK, profileView(p, !c.p.hasAny(RoleSupport, RoleCA), a.now()), nil
	}, nil
}

// hasAny reports whether the principal holds one of roles.
func (p *AdminPrincipal) hasAny(roles ...string) bool { return p.may(roles) != "" }

type swapRequest struct {
	ICCID      string `json:"iccid"`
	KeyVersion int    `json:"keyVersion"`
}

func (a *adminAPI) swapSIM(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	var req swapRequest
	if err := decodeAdmin(c, &req); err != nil {
		return nil, err
	}
	if err := checkICCID(req.ICCID, "iccid"); err != nil {
		return nil, err
	}
	if req.KeyVersion < 0 || req.KeyVersion > 15 {
		return nil, invalid("keyVersion", "an OTA key version 1–15 (0 or absent keeps the current one)")
	}
	c.detail("iccid_tail", tail(req.ICCID))
	return func(ctx context.Context) (int, any, error) {
		if err := a.store.SwapSIM(ctx, c.phone, req.ICCID, req.KeyVersion); err != nil {
			return 0, nil, notFound(err)
		}
		return http.StatusOK, map[string]any{"phone": audit.MaskPhone(c.phone), "iccidTail": tail(req.ICCID)}, nil
	}, nil
}

type numberRequest struct {
	NewPhone string `json:"newPhone"`
	UserID   string `json:"userId"`
}

func (a *adminAPI) changeNumber(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	var req numberRequest
	if err := decodeAdmin(c, &req); err != nil {
		return nil, err
	}
	to, err := normalizePhone(req.NewPhone)
	if err != nil {
		return nil, invalid("newPhone", "%v", err)
	}
	if to == c.phone {
		return nil, invalid("newPhone", "the same as the current number")
	}
	if req.UserID != "" && !validUserID(req.UserID) {
		return nil, invalid("userId", "the subscriber's current User ID, exactly 6 digits (or leave it out to issue a new one)")
	}
	c.detail("new_phone_hmac", a.trail.Phone(to).HMAC)
	c.detail("user_id_kept", strconv.FormatBool(req.UserID != ""))
	return func(ctx context.Context) (int, any, error) {
		uid, err := a.store.ChangeNumber(ctx, c.phone, to, req.UserID)
		switch {
		case errors.Is(err, sessions.ErrBadUserID):
			return 0, nil, &Error{Code: CodeUserIDMismatch, Field: "userId", Detail: "the User ID is not the subscriber's; leave it out to issue a new one"}
		case err != nil:
			return 0, nil, notFound(err)
		}
		body := map[string]any{"phone": audit.MaskPhone(to)}
		if uid != "" {
			body["userId"] = uid
		}
		return http.StatusOK, body, nil
	}, nil
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

// optionalReason reads an optional {"reason": …} body.
func optionalReason(c *adminCall) (string, error) {
	if c.r.ContentLength == 0 && c.r.Header.Get("Content-Type") == "" {
		return "", nil
	}
	var req reasonRequest
	if err := decodeAdmin(c, &req); err != nil {
		return "", err
	}
	if err := checkReason(req.Reason); err != nil {
		return "", err
	}
	return req.Reason, nil
}

func (a *adminAPI) setState(state string) func(c *adminCall) (adminApply, error) {
	return func(c *adminCall) (adminApply, error) {
		if err := pathPhone(c); err != nil {
			return nil, err
		}
		reason, err := optionalReason(c)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			c.detail("reason", reason)
		}
		return func(ctx context.Context) (int, any, error) {
			if err := a.store.SetSubscriberState(ctx, c.phone, state); err != nil {
				return 0, nil, notFound(err)
			}
			return http.StatusOK, map[string]any{"phone": audit.MaskPhone(c.phone), "state": state}, nil
		}, nil
	}
}

func (a *adminAPI) resetUserID(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		uid, err := a.store.ResetUserID(ctx, c.phone)
		if err != nil {
			return 0, nil, notFound(err)
		}
		return http.StatusOK, map[string]any{"phone": audit.MaskPhone(c.phone), "userId": uid}, nil
	}, nil
}

func (a *adminAPI) resetLockout(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		n, err := a.store.ResetLockout(ctx, c.phone)
		if err != nil {
			return 0, nil, notFound(err)
		}
		c.detail("failures_cleared", strconv.Itoa(n))
		return http.StatusOK, map[string]any{"phone": audit.MaskPhone(c.phone), "failuresCleared": n}, nil
	}, nil
}

func (a *adminAPI) certList(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		p, err := a.store.SubscriberProfile(ctx, c.phone)
		if err != nil {
			return 0, nil, notFound(err)
		}
		v := profileView(p, !c.p.hasAny(RoleSupport, RoleCA), a.now())
		return http.StatusOK, map[string]any{"certificates": v.Certificates}, nil
	}, nil
}

// certRequest is a certificate in an admin request.
type certRequest struct {
	// Certificate is the X.509 certificate, PEM or base64 DER.
	Certificate string `json:"certificate"`
	// Type: authentication (key reference 01), personal, business,
	// government.
	Type   string `json:"type"`
	KeyRef int    `json:"keyRef"`
	TaxID  string `json:"taxId"`
}

// certificate checks the request and returns the registry's form; prefix
// names the field in errors.
func (cr certRequest) certificate(prefix string) (sessions.Certificate, error) {
	der, err := parseCertInput(cr.Certificate)
	if err != nil {
		return sessions.Certificate{}, invalid(prefix+"certificate", "%v", err)
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return sessions.Certificate{}, invalid(prefix+"certificate", "not an X.509 certificate: %v", err)
	}
	typ := cr.Type
	switch {
	case typ == CertAuthentication:
		if cr.KeyRef != 0 && cr.KeyRef != int(applet.KeyRefAuth) {
			return sessions.Certificate{}, invalid(prefix+"keyRef", "the authentication certificate is key reference 1")
		}
		cr.KeyRef, typ = int(applet.KeyRefAuth), sessions.CertPersonal
	case typ != sessions.CertPersonal && typ != sessions.CertBusiness && typ != sessions.CertGovernment:
		return sessions.Certificate{}, invalid(prefix+"type", "want authentication, personal, business or government")
	}
	if cr.KeyRef < 1 || cr.KeyRef > 15 {
		return sessions.Certificate{}, invalid(prefix+"keyRef", "the applet key reference 1–15 (1 is the authentication key)")
	}
	if cr.TaxID != "" && (len(cr.TaxID) != sessions.TaxIDLen || !digitsOnly(cr.TaxID)) {
		return sessions.Certificate{}, invalid(prefix+"taxId", "the VÖEN is exactly 10 digits")
	}
	if typ == sessions.CertBusiness && cr.TaxID == "" {
		return sessions.Certificate{}, invalid(prefix+"taxId", "a business certificate needs the company's VÖEN")
	}
	return sessions.Certificate{Type: typ, TaxID: cr.TaxID, KeyRef: byte(cr.KeyRef), DER: der,
		NotBefore: x.NotBefore, NotAfter: x.NotAfter, Status: sessions.StatusActive}, nil
}

// parseCertInput accepts one PEM CERTIFICATE block or base64 DER.
func parseCertInput(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("missing: give the certificate as PEM or base64 DER")
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, errors.New("PEM without a CERTIFICATE block")
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, errors.New("more than one PEM block: give one certificate")
		}
		return b.Bytes, nil
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("neither PEM nor base64 DER")
	}
	if len(der) > sessions.MaxDERLen {
		return nil, fmt.Errorf("%d octets of DER, at most %d", len(der), sessions.MaxDERLen)
	}
	return der, nil
}

type certAddRequest struct {
	certRequest
	// Replace removes the certificates of the same key reference (a new
	// key in the slot); without it the new one is added beside them (a
	// renewal overlap).
	Replace bool `json:"replace"`
}

func (a *adminAPI) certAdd(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	var req certAddRequest
	if err := decodeAdmin(c, &req); err != nil {
		return nil, err
	}
	cert, err := req.certificate("")
	if err != nil {
		return nil, err
	}
	serial := certs.get(cert.DER).serial
	c.cert = serial
	c.detail("key_ref", strconv.Itoa(int(cert.KeyRef)))
	c.detail("replace", strconv.FormatBool(req.Replace))
	return func(ctx context.Context) (int, any, error) {
		_, err := a.store.UpdateSubscriber(ctx, c.phone, func(s *sessions.Subscriber) error {
			kept := s.Certificates[:0]
			for _, old := range s.Certificates {
				if bytes.Equal(old.DER, cert.DER) {
					return fmt.Errorf("the certificate is already registered: %w", sessions.ErrConflict)
				}
				if req.Replace && old.KeyRef == cert.KeyRef {
					continue
				}
				kept = append(kept, old)
			}
			if len(kept) >= sessions.MaxCertificates {
				return fmt.Errorf("the subscriber has %d certificates, the most a SIM holds: replace one: %w", len(kept), sessions.ErrConflict)
			}
			s.Certificates = append(kept, cert)
			return nil
		})
		if err != nil {
			return 0, nil, notFound(err)
		}
		return http.StatusCreated, describeAdminCert(cert, a.now(), false), nil
	}, nil
}

type certStatusRequest struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (a *adminAPI) certStatus(c *adminCall) (adminApply, error) {
	if err := pathPhone(c); err != nil {
		return nil, err
	}
	serial := strings.ToLower(strings.TrimLeft(c.r.PathValue("serial"), "0"))
	if serial == "" || len(serial) > 40 || strings.Trim(serial, "0123456789abcdef") != "" {
		return nil, invalid("serial", "the certificate's serial number in hex")
	}
	c.cert = serial
	var req certStatusRequest
	if err := decodeAdmin(c, &req); err != nil {
		return nil, err
	}
	switch req.Status {
	case sessions.StatusRevoked, sessions.StatusSuspended, sessions.StatusActive:
	default:
		return nil, invalid("status", "want revoked, suspended or active (to lift a suspension)")
	}
	if err := checkReason(req.Reason); err != nil {
		return nil, err
	}
	c.detail("status", req.Status)
	if req.Reason != "" {
		c.detail("reason", req.Reason)
	}
	return func(ctx context.Context) (int, any, error) {
		at := a.now().UTC().Truncate(time.Second)
		var changed sessions.Certificate
		_, err := a.store.UpdateSubscriber(ctx, c.phone, func(s *sessions.Subscriber) error {
			for i := range s.Certificates {
				cert := &s.Certificates[i]
				if certs.get(cert.DER).serial != serial {
					continue
				}
				switch {
				case cert.Status == sessions.StatusRevoked:
					return fmt.Errorf("the certificate is revoked, which is final: %w", sessions.ErrConflict)
				case req.Status == sessions.StatusActive && cert.Status != sessions.StatusSuspended:
					return fmt.Errorf("only a suspended certificate can be made active again: %w", sessions.ErrConflict)
				}
				cert.Status, cert.StatusAt, cert.StatusReason = req.Status, at, req.Reason
				changed = *cert
				return nil
			}
			return &Error{Code: CodeCertificateNotFound, Field: "serial", Detail: "the subscriber has no certificate with this serial"}
		})
		if err != nil {
			return 0, nil, notFound(err)
		}
		return http.StatusOK, describeAdminCert(changed, a.now(), false), nil
	}, nil
}

func (a *adminAPI) sessionGet(c *adminCall) (adminApply, error) {
	id := c.r.PathValue("id")
	if !plainID(id) || len(id) > 64 {
		return nil, invalid("id", "a session id")
	}
	c.session = id
	return func(ctx context.Context) (int, any, error) {
		sess, err := a.sessions.Get(ctx, id)
		if err != nil {
			return 0, nil, err
		}
		c.phone = sess.Phone
		return http.StatusOK, adminSessionView(sess), nil
	}, nil
}

func (a *adminAPI) sessionCancel(c *adminCall) (adminApply, error) {
	id := c.r.PathValue("id")
	if !plainID(id) || len(id) > 64 {
		return nil, invalid("id", "a session id")
	}
	c.session = id
	return func(ctx context.Context) (int, any, error) {
		sess, err := a.sessions.Get(ctx, id)
		if err == nil && sess.State == sessions.StateRunning {
			sess, err = cancelSession(ctx, a.log, a.done, a.sessions, id, ResultCancelledByAdmin)
		}
		if err != nil {
			return 0, nil, err
		}
		c.phone = sess.Phone
		return http.StatusOK, adminSessionView(sess), nil
	}, nil
}

// dayRange reads from and to (YYYY-MM-DD, UTC; to defaults to from, from
// to today).
func dayRange(c *adminCall, now time.Time) (time.Time, time.Time, error) {
	q := c.r.URL.Query()
	for k := range q {
		if k != "from" && k != "to" && k != "format" {
			return time.Time{}, time.Time{}, invalid(k, "unknown query parameter")
		}
	}
	from, to := now.UTC().Truncate(24*time.Hour), time.Time{}
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.DateOnly, v); err != nil {
			return time.Time{}, time.Time{}, invalid("from", "a day as YYYY-MM-DD")
		}
	}
	to = from
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil {
			return time.Time{}, time.Time{}, invalid("to", "a day as YYYY-MM-DD")
		}
	}
	if to.Before(from) {
		return time.Time{}, time.Time{}, invalid("to", "the last day comes before the first")
	}
	if to.Sub(from) >= sessions.MaxUsageDays*24*time.Hour {
		return time.Time{}, time.Time{}, invalid("to", "at most %d days at once", sessions.MaxUsageDays)
	}
	c.detail("from", from.Format(time.DateOnly))
	c.detail("to", to.Format(time.DateOnly))
	return from, to, nil
}

func (a *adminAPI) auditVerify(c *adminCall) (adminApply, error) {
	from, to, err := dayRange(c, a.now())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		rep, err := a.trail.Verify(ctx, from, to)
		if rep == nil {
			return 0, nil, err
		}
		var text bytes.Buffer
		_ = rep.WriteText(&text)
		c.detail("verified", strconv.FormatBool(rep.OK()))
		return http.StatusOK, map[string]any{"ok": rep.OK(), "records": rep.Records, "chains": len(rep.Chains),
			"breaks": len(rep.Breaks), "report": text.String()}, nil
	}, nil
}

func (a *adminAPI) auditExport(c *adminCall) (adminApply, error) {
	from, to, err := dayRange(c, a.now())
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (int, any, error) {
		// The export is itself audited before its first byte goes out.
		if err := a.record(ctx, adminAction{name: "audit.export"}, "GET /admin/v1/audit/export", c, "ok"); err != nil {
			return 0, nil, err
		}
		c.stream = true
		c.w.Header().Set("Content-Type", "application/x-ndjson")
		c.w.WriteHeader(http.StatusOK)
		if err := a.trail.Export(ctx, c.w, from, to); err != nil {
			// Too late for a problem: the verifier sees the missing seal.
			a.log.Error("audit export failed midway", "err", err.Error())
		}
		return 0, nil, nil
	}, nil
}

func (a *adminAPI) usage(c *adminCall) (adminApply, error) {
	from, to, err := dayRange(c, a.now())
	if err != nil {
		return nil, err
	}
	format := c.r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return nil, invalid("format", "json or csv")
	}
	return func(ctx context.Context) (int, any, error) {
		rows, err := a.store.Usage(ctx, from, to)
		if err != nil {
			return 0, nil, err
		}
		c.detail("rows", strconv.Itoa(len(rows)))
		if format == "json" {
			out := make([]usageJSON, 0, len(rows))
			for _, r := range rows {
				out = append(out, usageJSON(r))
			}
			return http.StatusOK, map[string]any{"from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly), "usage": out}, nil
		}
		if err := a.record(ctx, adminAction{name: "usage.export"}, "GET /admin/v1/usage", c, "ok"); err != nil {
			return 0, nil, err
		}
		c.stream = true
		c.w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		_ = WriteUsageCSV(c.w, rows)
		return 0, nil, nil
	}, nil
}

// usageJSON is one usage row in JSON.
type usageJSON struct {
	Day       string `json:"day"`
	Portal    string `json:"portal"`
	Operator  string `json:"operator"`
	Operation string `json:"operation"`
	Result    string `json:"result"`
	Count     int64  `json:"count"`
}

// WriteUsageCSV writes usage rows as CSV with a header line.
func WriteUsageCSV(w interface{ Write([]byte) (int, error) }, rows []sessions.UsageRow) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"day", "portal", "operator", "operation", "result", "count"})
	for _, r := range rows {
		_ = cw.Write([]string{r.Day, r.Portal, r.Operator, r.Operation, r.Result, strconv.FormatInt(r.Count, 10)})
	}
	cw.Flush()
	return cw.Error()
}

// checkICCID checks an ICCID field.
func checkICCID(s, field string) error {
	if (len(s) != 19 && len(s) != 20) || !digitsOnly(s) {
		return invalid(field, "the ICCID is 19 or 20 digits")
	}
	return nil
}

// checkReason checks a free-text reason for the audit trail.
func checkReason(s string) error {
	if len(s) > sessions.MaxStatusReasonLen {
		return invalid("reason", "at most %d characters", sessions.MaxStatusReasonLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return invalid("reason", "printable ASCII only")
		}
	}
	if strings.ContainsRune(s, '+') {
		return invalid("reason", "no phone numbers or '+' in a reason")
	}
	return nil
}

func digitsOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validOperatorName(o string) bool {
	if len(o) > 32 {
		return false
	}
	for i := 0; i < len(o); i++ {
		c := o[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// tail is the last four characters of an identifier, all the audit trail
// keeps of an ICCID.
func tail(s string) string {
	if len(s) <= 4 {
		return s
	}
	return s[len(s)-4:]
}
