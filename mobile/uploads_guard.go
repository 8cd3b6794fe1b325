package mobile

import (
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// bodyGuard keeps the body limit of every route but the uploads' once
// request bodies stream: fasthttp then hands a handler any body over the
// server's limit as a stream, which Body() would read whole. A declared
// length over limit is refused before a byte is read; a chunked body is read
// up to limit and refused past it.
func bodyGuard(limit int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if strings.HasPrefix(c.Path(), "/v1/uploads/") || c.Path() == "/v1/uploads" {
			return c.Next()
		}
		cl := c.Request().Header.ContentLength()
		if cl > limit {
			drain(c)
			return domain.Errorf(domain.CodePayloadTooLarge, "request body too large")
		}
		if cl == -1 { // chunked: the length is known only once read
			if stream := c.Context().RequestBodyStream(); stream != nil {
				b, err := io.ReadAll(io.LimitReader(stream, int64(limit)+1))
				if err != nil {
					return domain.Errorf(domain.CodeMalformedRequest, "the request body could not be read")
				}
				if len(b) > limit {
					drain(c)
					return domain.Errorf(domain.CodePayloadTooLarge, "request body too large")
				}
				c.Request().SetBodyRaw(b)
			}
		}
		return c.Next()
	}
}

// drain reads and drops what is left of a refused body, up to drainLimit:
// closing a connection with unread bytes resets it, and the client would
// lose the answer saying why.
func drain(c *fiber.Ctx) {
	if s := c.Context().RequestBodyStream(); s != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(s, drainLimit))
	}
}
