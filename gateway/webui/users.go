package webui

import (
	"regexp"
	"strings"
)

// usersPerGroup is how many users of each behaviour the page lists.
const usersPerGroup = 3

// behaviour describes a scripted user for the page's list, in the order
// the list shows them.
type behaviour struct {
	Key         string `json:"key"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

var behaviours = []behaviour{
	{"approve", "Approves", "Confirms on the phone with the right PIN after a few seconds."},
	{"wrong-pin-1x-then-approve", "Mistypes the PIN once", "Enters a wrong PIN once, then the right one: the result is still OK."},
	{"cancel", "Cancels", "Presses cancel on the phone."},
	{"wrong-pin-until-blocked", "Blocks the PIN", "Enters a wrong PIN until the PIN is blocked."},
	{"no-answer", "Never answers", "Ignores the phone until the request times out."},
}

// listedUser is one row of the page's list.
type listedUser struct {
	PhoneNumber  string   `json:"phoneNumber"`
	UserID       string   `json:"userId"`
	Name         string   `json:"name"`
	Certificates []string `json:"certificates"` // types of the signing certificates
}

// group is the users of one behaviour.
type group struct {
	behaviour
	Users []listedUser `json:"users"`
}

// groupUsers picks up to n users of each known behaviour.
func groupUsers(users []User, n int) []group {
	out := make([]group, len(behaviours))
	index := map[string]int{}
	for i, b := range behaviours {
		out[i].behaviour = b
		index[b.Key] = i
	}
	for _, u := range users {
		i, ok := index[u.Behaviour]
		if !ok || len(out[i].Users) >= n {
			continue
		}
		lu := listedUser{PhoneNumber: u.PhoneNumber, UserID: u.UserID, Certificates: []string{}}
		for _, c := range u.Certificates {
			if c.Type == "authentication" {
				lu.Name = holderName(c.Subject)
				continue
			}
			lu.Certificates = append(lu.Certificates, c.Type)
		}
		out[i].Users = append(out[i].Users, lu)
	}
	return out
}

// attrName is an attribute name of the API's subject strings (CN, GN,
// organizationIdentifier, or a dotted OID).
var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$|^[0-9]+(\.[0-9]+)+$`)

// subjectAttrs splits a subject string "C=AZ, CN=…, GN=…" into its
// attributes; a ", " inside a value stays in the value.
func subjectAttrs(subject string) map[string]string {
	attrs := map[string]string{}
	last := ""
	for _, part := range strings.Split(subject, ", ") {
		name, value, ok := strings.Cut(part, "=")
		if ok && attrName.MatchString(name) {
			attrs[name], last = value, name
		} else if last != "" {
			attrs[last] += ", " + part
		}
	}
	return attrs
}

// holderName is the given name and surname of a subject, else its CN.
func holderName(subject string) string {
	a := subjectAttrs(subject)
	if a["GN"] != "" && a["SN"] != "" {
		return a["GN"] + " " + a["SN"]
	}
	return a["CN"]
}
