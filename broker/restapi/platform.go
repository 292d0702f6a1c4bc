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
		{"POST", "/platform/tokens", pw, created(a, a.opts.Tokens.CreateToken)},
		{"GET", "/platform/tokens/{selector}", p, selected(a, a.opts.Tokens.Tokens)},
		{"PUT", "/platform/tokens/{selector}", pw, a.putTokens},
		{"DELETE", "/platform/tokens/{selector}", pw, deleted(a, a.opts.Tokens.DeleteTokens, func(t auth.Token) uint64 { return t.ID })},
		{"POST", "/platform/subaccounts", pw, created(a, func(cid uint64, in subaccountIn) (auth.Account, error) {
			return a.opts.Tokens.CreateAccount(cid, in.Name)
		})},
		{"GET", "/platform/subaccounts/{selector}", p, selected(a, a.opts.Tokens.Accounts)},
		{"DELETE", "/platform/subaccounts/{selector}", pw, deleted(a, a.opts.Tokens.DeleteAccounts, func(acc auth.Account) uint64 { return acc.ID })},
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

// created serves a POST of a list of items, each made by create in the
// acting account; the answer lists what was made.
func created[In, Out any](a *API, create func(cid uint64, in In) (Out, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cid, ok := a.actingCID(w, r)
		if !ok {
			return
		}
		var in []In
		if !decodeBody(w, r, smallBody, &in) {
			return
		}
		var out []Out
		for _, item := range in {
			made, err := create(cid, item)
			if err != nil {
				writeAuthError(w, err)
				return
			}
			out = append(out, made)
		}
		writeResult(w, out)
	}
}

// selected serves a GET of the items the path's selector names in the
// acting account.
func selected[T any](a *API, list func(cid uint64, sel string) ([]T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cid, ok := a.actingCID(w, r)
		if !ok {
			return
		}
		items, err := list(cid, r.PathValue("selector"))
		if err != nil {
			writeAuthError(w, err)
			return
		}
		writeResult(w, items)
	}
}

// deleted serves a DELETE of the items the path's selector names in the
// acting account, answering their ids only, as flespi does.
func deleted[T any](a *API, del func(cid uint64, sel string) ([]T, error), id func(T) uint64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cid, ok := a.actingCID(w, r)
		if !ok {
			return
		}
		items, err := del(cid, r.PathValue("selector"))
		if err != nil {
			writeAuthError(w, err)
			return
		}
		out := make([]idOnly, len(items))
		for i, item := range items {
			out[i].ID = id(item)
		}
		writeResult(w, out)
	}
}

// idOnly is what a DELETE returns per item, as flespi does.
type idOnly struct {
	ID uint64 `json:"id"`
}

// subaccountIn is one item of POST /platform/subaccounts.
type subaccountIn struct {
	Name string `json:"name"`
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
