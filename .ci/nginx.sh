#!/usr/bin/env bash
# Prints the path of Debian's nginx, installing the package first when it is missing (see
# debian-tool.sh). The tests that put a real nginx in front of the services call this.
exec bash "$(dirname "${BASH_SOURCE[0]}")/debian-tool.sh" nginx nginx
