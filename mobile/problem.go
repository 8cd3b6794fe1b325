package mobile

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/iswitchroofs/fieldsync/domain"
)

// ProblemContentType is the media type of every error answer (RFC 9457).
const ProblemContentType = "application/problem+json"

// statusByCode is the one table mapping error codes to HTTP statuses; codes
// not listed fall back to statusByKind.
var statusByCode = map[domain.Code]int{
	domain.CodeMalformedRequest: http.StatusBadRequest,
	domain.CodePayloadTooLarge:  http.StatusRequestEntityTooLarge,
	domain.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	domain.CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	domain.CodeUpgradeRequired:  http.StatusUpgradeRequired,
	// tus 1.0 fixes these statuses for its clients.
	domain.CodeUnsupportedImage:  http.StatusUnsupportedMediaType,
	domain.CodeChecksumMismatch:  460,
	domain.CodeChecksumAlgorithm: http.StatusBadRequest,
	domain.CodeUploadExpired:     http.StatusGone,
	domain.CodeUploadQuota:       http.StatusRequestEntityTooLarge,
	domain.CodeTusVersion:        http.StatusPreconditionFailed,
}

var statusByKind = map[domain.Kind]int{
	domain.KindInvalid:      http.StatusUnprocessableEntity,
	domain.KindNotFound:     http.StatusNotFound,
	domain.KindConflict:     http.StatusConflict,
	domain.KindUnauthorized: http.StatusUnauthorized,
	domain.KindForbidden:    http.StatusForbidden,
	domain.KindRateLimited:  http.StatusTooManyRequests,
	domain.KindUnavailable:  http.StatusServiceUnavailable,
	domain.KindInternal:     http.StatusInternalServerError,
}

// StatusFor returns the HTTP status an error code is answered with.
func StatusFor(code domain.Code) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return statusByKind[code.Kind()]
}

// Problem is the RFC 9457 body of every error answer, extended with the
// stable code clients switch on, the request id to quote to support, and
// the offending fields of a validation error.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Code      domain.Code         `json:"code"`
	Detail    string              `json:"detail"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []domain.FieldError `json:"errors,omitempty"`
	RetryIn   *int                `json:"retry_after_seconds,omitempty"`
}

// fiberErrorCodes translates the framework's own errors (no route, body too
// large at read time, bad method) into our codes.
func fromFiberError(fe *fiber.Error) *domain.Error {
	switch fe.Code {
	case http.StatusNotFound:
		return domain.Errorf(domain.CodeRouteNotFound, "no such endpoint")
	case http.StatusMethodNotAllowed:
		return domain.Errorf(domain.CodeMethodNotAllowed, "method not allowed on this endpoint")
	case http.StatusRequestEntityTooLarge:
		return domain.Errorf(domain.CodePayloadTooLarge, "request body too large")
	case http.StatusUnsupportedMediaType:
		return domain.Errorf(domain.CodeUnsupportedMedia, "unsupported content type")
	case http.StatusRequestTimeout:
		return domain.Errorf(domain.CodeMalformedRequest, "request timed out")
	case http.StatusRequestHeaderFieldsTooLarge:
		return domain.Errorf(domain.CodePayloadTooLarge, "request headers too large")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return domain.Errorf(domain.CodeMalformedRequest, "malformed request")
	}
	return domain.WrapError(domain.CodeInternal, fe, "an internal error occurred")
}

// ErrorHandler is the Fiber error handler that renders every error as
// problem+json. Internal errors are logged with the request id and answered
// with a generic message, so no internals leak to clients.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var de *domain.Error
		var fe *fiber.Error
		switch {
		case errors.As(err, &de):
		case errors.As(err, &fe):
			de = fromFiberError(fe)
		default:
			de = domain.WrapError(domain.CodeInternal, err, "an internal error occurred")
		}
		status := StatusFor(de.Code)
		rid := RequestID(c)
		if rid == "" {
			// Errors raised while reading the request (body too large) come
			// before any middleware ran; they still get an id to quote.
			rid = newRequestID()
			c.Set(RequestIDHeader, rid)
		}
		p := Problem{
			Type:      "https://fieldsync.dev/problems/" + string(de.Code),
			Title:     http.StatusText(status),
			Status:    status,
			Code:      de.Code,
			Detail:    de.Message,
			RequestID: rid,
			Errors:    de.Fields,
		}
		if de.Code.Kind() == domain.KindInternal {
			p.Detail = "an internal error occurred"
			log.ErrorContext(c.UserContext(), "internal error",
				slog.String("request_id", p.RequestID),
				slog.String("route", routePath(c)),
				slog.String("error", err.Error()))
		}
		if de.RetryAfter > 0 {
			secs := int(math.Ceil(de.RetryAfter.Seconds()))
			p.RetryIn = &secs
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		}
		body, merr := json.Marshal(p)
		if merr != nil {
			return c.Status(http.StatusInternalServerError).SendString("internal error")
		}
		c.Set(fiber.HeaderContentType, ProblemContentType)
		return c.Status(status).Send(body)
	}
}
