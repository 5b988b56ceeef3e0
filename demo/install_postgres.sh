#!/usr/bin/env bash
# Installs the PostgreSQL server binaries from the distribution's packages when they are missing,
# for the warehouse end-to-end test and the demo. Never fails the build: when PostgreSQL cannot be
# installed, the test that needs it reports itself skipped with the reason.
set -u
for d in /usr/lib/postgresql/*/bin; do
  if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then exit 0; fi
done
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_postgres: no apt-get here; install the PostgreSQL server yourself for the warehouse test" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "install_postgres: not root and no passwordless sudo; the warehouse test will be skipped" >&2
    exit 0
  fi
fi
echo "install_postgres: installing postgresql from the distribution's packages" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
  echo "install_postgres: apt-get install postgresql failed; the warehouse test will be skipped" >&2
fi
exit 0
