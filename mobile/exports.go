package mobile

import "github.com/gofiber/fiber/v2"

// RequireAuth returns the middleware the device API authenticates with
// (a Bearer access token; the principal lands in the request's user
// context, see PrincipalFromContext), for routes other packages mount on
// the same application (the back office).
func RequireAuth(auth Authenticator) fiber.Handler {
	s := &server{auth: auth}
	return s.requireAuth
}
