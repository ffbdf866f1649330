package oci

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pushed says where an image went.
type Pushed struct {
	// Tagged is the reference the image was pushed to, with its tag
	// (registry/repository:tag).
	Tagged name.Tag
	// Digest is the hex sha256 of the manifest: the WasmPlugin's sha256.
	Digest string
}

// WasmPluginURL returns the url a WasmPlugin uses to pull the pushed image.
func (p Pushed) WasmPluginURL() string { return "oci://" + p.Tagged.Name() }

// ByDigest returns the oci:// url that pins the pushed image by digest.
func (p Pushed) ByDigest() string {
	return "oci://" + p.Tagged.Context().Name() + "@sha256:" + p.Digest
}

// Push uploads img to target, a registry/repository[:tag] reference. When
// target has no tag, defaultTag is used. Credentials come from the Docker
// config (~/.docker/config.json or $DOCKER_CONFIG), as for docker push.
// Registries on loopback, RFC 1918 addresses and localhost are spoken to
// over plain HTTP (go-containerregistry's name.Registry.Scheme).
func Push(ctx context.Context, target, defaultTag string, img v1.Image) (Pushed, error) {
	ref, err := name.ParseReference(target, name.WithDefaultTag(defaultTag))
	if err != nil {
		return Pushed{}, fmt.Errorf("oci: bad registry reference %q (want host[:port]/repository[:tag]): %w", target, err)
	}
	tag, ok := ref.(name.Tag)
	if !ok {
		return Pushed{}, fmt.Errorf("oci: push to %q: give a tag, not a digest (the digest is the result of the push)", target)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return Pushed{}, fmt.Errorf("oci: pushing to %s: %w", tag, err)
	}
	digest, err := Digest(img)
	if err != nil {
		return Pushed{}, err
	}
	return Pushed{Tagged: tag, Digest: digest}, nil
}
