#!/bin/sh
# A Java runtime for the Spark test (loaders/tests/test_lake_engines.py: pyspark in local[2]).
# Idempotent: does nothing when `java` on PATH is version 17 or later (Spark 4 needs 17 or 21);
# otherwise installs Debian's headless OpenJDK 17 (21 where the release has no 17: Debian 13)
# through tools/apt_install.sh.
set -e
java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1
}
if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    exit 0
fi
sh "$(dirname "$0")/apt_install.sh" --no-install-recommends \
    openjdk-17-jre-headless openjdk-21-jre-headless
if ! command -v java >/dev/null 2>&1 || ! [ "$(java_major)" -ge 17 ] 2>/dev/null; then
    echo "error: installed a Java runtime, but no java 17+ is on PATH" >&2
    exit 1
fi
