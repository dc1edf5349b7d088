# Two commands for a fresh machine: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE := sqlite:///out/demo.db
XUNCHA := $(BIN)/xuncha --store $(DEMO_STORE)
NEO4J_DEV := tools/neo4j-dev
NEO4J_CP := $(NEO4J_DEV)/target/classpath.txt

.PHONY: install demo test browser neo4j-classpath neo4j-start neo4j-stop bench clean compose-config

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: install
	rm -rf out && mkdir -p out
	$(XUNCHA) load divisions
	$(XUNCHA) catalog load
	$(XUNCHA) catalog units
	$(XUNCHA) generate scenario --province 50 --seed 1 --out out/scenario
	$(XUNCHA) load units out/scenario/units.csv
	$(XUNCHA) load duties out/scenario/duties.csv
	$(XUNCHA) load issues out/scenario/issues.csv
	$(XUNCHA) stats --district 500101
	$(XUNCHA) rootcauses --top 15 --xlsx out/rootcauses.xlsx
	$(XUNCHA) rootcauses --json > out/rootcauses.json
	$(XUNCHA) packages --top 3
	$(XUNCHA) packages --xlsx out/packages.xlsx --json > out/packages.json
	$(XUNCHA) viz area 500101 -o out/views/万州区.html
	$(BIN)/python -c "import json; c = json.load(open('out/rootcauses.json'))[0]; print(c['unit_id'], c['category'])" \
	  | { read unit category; $(XUNCHA) viz rootcause "$$unit" "$$category" -o out/views/rootcause-1.html; }
	@echo "报告：out/rootcauses.xlsx、out/rootcauses.json、out/packages.xlsx、out/packages.json；图：out/views/"
	@echo ""
	@echo "HTTP API 分析员令牌（只显示这一次，存储中只保存它的哈希）："
	@$(XUNCHA) token create --role analyst --name demo | sed -n 2p
	@echo "启动 API：  $(BIN)/xuncha --store $(DEMO_STORE) serve    （Ctrl-C 停止）"
	@echo "然后打开：  http://127.0.0.1:8000/docs（API 文档，离线可用；用上面的令牌 Authorize）或 http://127.0.0.1:8000/ui"

# The Neo4j engine for tests and development: a small Java launcher over Neo4j 5.26 (LTS), no Docker.
$(NEO4J_CP): $(NEO4J_DEV)/pom.xml $(NEO4J_DEV)/src/main/java/xuncha/Neo4jDev.java
	@command -v mvn >/dev/null || { echo "Maven is needed to build the Neo4j launcher"; exit 1; }
	cd $(NEO4J_DEV) && mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt

# Under CI=true a missing Java or Maven fails here: CI must not go green by skipping Neo4j.
neo4j-classpath:
	@if command -v java >/dev/null; then $(MAKE) --no-print-directory $(NEO4J_CP); \
	elif [ "$$CI" = true ]; then echo "CI=true: Java 17 and Maven are required for the Neo4j tests" >&2; exit 1; \
	else echo "no Java on this machine: the Neo4j tests will be skipped"; fi

neo4j-start: install neo4j-classpath
	$(BIN)/python -m tests.neo4j_engine start

neo4j-stop:
	$(BIN)/python -m tests.neo4j_engine stop

# The browser tests drive Debian's chromium (never `playwright install`: no browser download) with
# CJK fonts; installed with apt when missing. Under CI=true a missing browser fails the run.
browser:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	elif [ "$$CI" = true ]; then echo "CI=true: chromium and fonts-noto-cjk are required" >&2; exit 1; \
	else echo "no chromium: the browser tests will be skipped (apt-get install chromium fonts-noto-cjk)"; fi

test: install neo4j-classpath browser
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/load_divisions.py
	$(BIN)/python bench/load_scenario.py
	$(BIN)/python bench/speed.py
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/load_ledger.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/viz_render.py

clean:
	rm -rf out .neo4j-dev $(NEO4J_DEV)/target

# `docker compose config` without a Docker engine: the compose CLI plugin, built from the Go module proxy if missing.
compose-config:
	@docker compose version >/dev/null 2>&1 || { \
	  command -v go >/dev/null || { echo "Go is needed to build the compose plugin"; exit 1; }; \
	  GOFLAGS=-mod=mod GOBIN=$$HOME/.docker/cli-plugins go install github.com/docker/compose/v2/cmd@v2.29.7 && \
	  mv $$HOME/.docker/cli-plugins/cmd $$HOME/.docker/cli-plugins/docker-compose; }
	NEO4J_PASSWORD=$${NEO4J_PASSWORD:-compose-check-password} docker compose config --quiet && echo "docker compose config: ok"
