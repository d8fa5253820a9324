#!/usr/bin/env bash
# Makes Fashion-MNIST available where it can: Debian packages it as dataset-fashion-mnist; where apt cannot run,
# anynn downloads it (checksummed) on first use. Never fails the caller.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${ANYNN_DATA:-}" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
      || echo "apt-get could not install dataset-fashion-mnist; anynn will download Fashion-MNIST instead"
  fi
fi
exit 0
