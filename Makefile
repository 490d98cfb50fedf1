# The two commands a newcomer types: `make run` and `make test`.
# Both create .venv and install the project into it; a second run only
# re-installs when setup.py, the protobuf sources, the grammar or the C
# accelerators changed.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
JOBS    ?= 2
TESTS   ?= tests

# The system programs the tests drive for real: redis-server, Postfix's
# smtp-source/smtp-sink, swaks, openssl, and libmagic for dlpd.
SYSTEM_PROGRAMS := redis-server smtp-source smtp-sink swaks openssl
SYSTEM_PACKAGES := redis-server postfix swaks openssl libmagic1 publicsuffix

GENERATED_FROM := setup.py $(wildcard proto/halon/*.proto) $(wildcard halon/hsl/parser.py) $(wildcard halon/hsl/*.c) $(wildcard halon/queue/*.c)

.PHONY: run test bench system venv clean

run: $(STAMP)
	@mkdir -p var
	@echo "Halon on Twisted: SMTP on 127.0.0.1:2525, configuration in ./etc/halon, state in ./var"
	@echo "  send mail:  swaks --server 127.0.0.1:2525 --to you@example.com"
	@echo "  manage it:  $(BIN)/halonctl process-stats      (socket ./var/run/halon/smtpd.ctl)"
	@echo "  scripts:    $(BIN)/hsh"
	$(BIN)/twistd --pidfile= -n halon

test: $(STAMP) system
	@$(BIN)/python -m tests.run -j $(JOBS) $(TESTS)

bench: $(STAMP) system
	$(BIN)/python -m bench

venv: $(STAMP)

$(STAMP): $(GENERATED_FROM)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip setuptools wheel grpcio-tools ply
	@$(BIN)/python -m pip install -q --no-build-isolation \
	    --config-settings editable_mode=compat -e '.[test]'
	@$(BIN)/python -c "from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))"
	@touch $@

# Installs what the tests need from the system's package manager, once.
system:
	@missing=""; for p in $(SYSTEM_PROGRAMS); do \
	    command -v $$p >/dev/null 2>&1 || [ -x /usr/sbin/$$p ] || missing="$$missing $$p"; done; \
	test -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 -o -e /usr/lib/aarch64-linux-gnu/libmagic.so.1 || missing="$$missing libmagic"; \
	test -e /usr/share/publicsuffix/public_suffix_list.dat || missing="$$missing publicsuffix"; \
	if [ -n "$$missing" ]; then \
	    echo "installing system packages for:$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO="sudo"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $$SUDO apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null; }; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info _trial_temp* halon/hsl/_parsetab.py halon/hsl/*.so halon/queue/*.so halon/control/pb/*_pb2.py
