package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"

	"github.com/hibiken/asynq"

	"github.com/iswitchroofs/fieldsync/domain"
	"github.com/iswitchroofs/fieldsync/jobs/photoproc"
	"github.com/iswitchroofs/fieldsync/mobile"
)

// uploadsConfig wires the photo routes to the database and the photo store.
// MinIO signs download URLs itself; the directory store's URLs are signed by
// the server with a key derived from the token signing keys (so every
// replica agrees), or a random one in dev, where one process serves them.
func (s *system) uploadsConfig() *mobile.UploadsConfig {
	parts, ok := s.blobs.(domain.PartStore)
	if !ok {
		return nil // a store without parts cannot take resumable uploads
	}
	cfg := &mobile.UploadsConfig{
		Uploads: s.store, Photos: s.store, Blobs: s.blobs, Parts: parts, Writer: s.store, Clock: s.clock,
	}
	if mp, ok := s.blobs.(domain.MultipartStore); ok {
		cfg.Multipart = mp
	}
	if signer, ok := s.blobs.(domain.BlobSigner); ok {
		cfg.Signer = signer
		return cfg
	}
	if s.cfg.JWTKeys != "" {
		m := hmac.New(sha256.New, []byte(s.cfg.JWTKeys))
		m.Write([]byte("fieldsync photo URLs v1"))
		cfg.URLKey = m.Sum(nil)
	} else {
		cfg.URLKey = make([]byte, 32)
		_, _ = rand.Read(cfg.URLKey) // never fails
	}
	return cfg
}

// startPhotoJobs registers the photo processing task and runs the photo
// housekeeping until shutdown.
func (s *system) startPhotoJobs(ctx context.Context, mux *asynq.ServeMux) {
	photoproc.Register(mux, photoproc.Deps{Records: s.store, Blobs: s.blobs, Writer: s.store, Log: s.log})
	h := &photoproc.Housekeeper{Uploads: s.store, Photos: s.store, Orgs: s.store, Blobs: s.blobs,
		Writer: s.store, Clock: s.clock, Log: s.log}
	s.background(ctx, "photo housekeeping", h.Run, nil)
}
