package restapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mqttboard/mqttboard/broker/auth"
)

// With token authentication ([Options.Tokens]) the API also serves
// flespi's platform methods for tokens and subaccounts, and every request
// but /healthz needs "Authorization: FlespiToken <key>":
//
//   - /platform/... takes a master token (flespi: "the only type of token
//     that provides access to any REST API call that starts from
//     /platform/"); "x-flespi-cid: <id>" makes it act in one of its
//     subaccounts.
//   - POST /mqtt/messages publishes into the caller's account, or with a
//     master token and x-flespi-cid into that subaccount (how a parent
//     writes into a child's namespace over REST); any master or standard
//     token may.
//   - The rest of /mqtt/..., /metrics and /openapi.json are the broker's
//     administration: they take a master or standard token of the root
//     account (the API's answers span every account). Subaccount and ACL
//     tokens get 403.
//
// A request with no valid token gets 401; with a token that may not do it,
// 403.

// platformRoutes are the /platform methods; without tokens they answer
// 404 saying so.
func (a *API) platformRoutes() []route {
	p, pw := Access{Resource: "platform"}, Access{Resource: "platform", Write: true}
	return []route{
		{"POST", "/platform/tokens", pw, a.postTokens},
		{"GET", "/platform/tokens/{selector}", p, a.getTokens},
		{"PUT", "/platform/tokens/{selector}", pw, a.putTokens},
		{"DELETE", "/platform/tokens/{selector}", pw, a.deleteTokens},
		{"POST", "/platform/subaccounts", pw, a.postSubaccounts},
		{"GET", "/platform/subaccounts/{selector}", p, a.getSubaccounts},
		{"DELETE", "/platform/subaccounts/{selector}", pw, a.deleteSubaccounts},
	}
}

// authorizeToken is [Options.Authorize] with [Options.Tokens].
func (a *API) authorizeToken(r *http.Request, acc Access) error {
	c, err := a.caller(r)
	if err != nil {
		return err
	}
	reg := a.opts.Tokens
	switch {
	case acc.Resource == "platform":
		if !c.Master() {
			return errors.New("the platform API takes a master token")
		}
	case r.Method == "POST" && acc.Resource == "messages":
		// Publishing goes into the caller's account (or, for a master
		// token, the subaccount x-flespi-cid names): any master or
		// standard token may.
		if c.Token.Access.Type == auth.ACL {
			return errors.New("publishing through the API takes a master or standard token")
		}
	case c.Token.CID != reg.Root() || c.CID != reg.Root() || c.Token.Access.Type == auth.ACL:
		return errors.New("the broker's API takes a master or standard token of the root account")
	}
	return nil
}

// caller finds who a request acts as; an unknown or invalid token is
// [ErrUnauthorized].
func (a *API) caller(r *http.Request) (*auth.Caller, error) {
	c, err := a.opts.Tokens.Authorize(r.Header.Get("Authorization"), r.Header.Get("x-flespi-cid"))
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return nil, fmt.Errorf("%w: %s", ErrUnauthorized, strings.TrimPrefix(err.Error(), auth.ErrNotFound.Error()+": "))
	case err != nil:
		return nil, err
	}
	return c, nil
}

// actingCID is the account a platform request acts in (authorized).
func (a *API) actingCID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	if a.opts.Tokens == nil {
		writeError(w, http.StatusNotFound, "no tokens or subaccounts: the broker runs without token authentication (start it with --auth token)")
		return 0, false
	}
	c, err := a.caller(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return 0, false
	}
	return c.CID, true
}

// writeAuthError maps the registry's errors to statuses.
func writeAuthError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, auth.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, auth.ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (a *API) postTokens(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	var in []auth.TokenSpec
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	var out []auth.Token
	for _, s := range in {
		t, err := a.opts.Tokens.CreateToken(cid, s)
		if err != nil {
			writeAuthError(w, err)
			return
		}
		out = append(out, t)
	}
	writeResult(w, out)
}

func (a *API) getTokens(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	ts, err := a.opts.Tokens.Tokens(cid, r.PathValue("selector"))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	writeResult(w, ts)
}

func (a *API) putTokens(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	var in []auth.TokenSpec
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	if len(in) != 1 {
		writeError(w, http.StatusBadRequest, "body: one object: the fields to change")
		return
	}
	ts, err := a.opts.Tokens.UpdateTokens(cid, r.PathValue("selector"), in[0])
	if err != nil {
		writeAuthError(w, err)
		return
	}
	writeResult(w, ts)
}

// idOnly is what a DELETE returns per item, as flespi does.
type idOnly struct {
	ID uint64 `json:"id"`
}

func (a *API) deleteTokens(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	ts, err := a.opts.Tokens.DeleteTokens(cid, r.PathValue("selector"))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	out := make([]idOnly, len(ts))
	for i, t := range ts {
		out[i].ID = t.ID
	}
	writeResult(w, out)
}

// subaccountIn is one item of POST /platform/subaccounts.
type subaccountIn struct {
	Name string `json:"name"`
}

func (a *API) postSubaccounts(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	var in []subaccountIn
	if !decodeBody(w, r, smallBody, &in) {
		return
	}
	var out []auth.Account
	for _, s := range in {
		acc, err := a.opts.Tokens.CreateAccount(cid, s.Name)
		if err != nil {
			writeAuthError(w, err)
			return
		}
		out = append(out, acc)
	}
	writeResult(w, out)
}

func (a *API) getSubaccounts(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	as, err := a.opts.Tokens.Accounts(cid, r.PathValue("selector"))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	writeResult(w, as)
}

func (a *API) deleteSubaccounts(w http.ResponseWriter, r *http.Request) {
	cid, ok := a.actingCID(w, r)
	if !ok {
		return
	}
	as, err := a.opts.Tokens.DeleteAccounts(cid, r.PathValue("selector"))
	if err != nil {
		writeAuthError(w, err)
		return
	}
	out := make([]idOnly, len(as))
	for i, acc := range as {
		out[i].ID = acc.ID
	}
	writeResult(w, out)
}

// publisher is the token a request presented and the account it acts in
// (its own, or x-flespi-cid's), zeros without token authentication (the
// request is authorized already).
func (a *API) publisher(r *http.Request) (tokenID, cid uint64) {
	if a.opts.Tokens == nil {
		return 0, 0
	}
	if c, err := a.caller(r); err == nil {
		return c.Token.ID, c.CID
	}
	return 0, 0
}
