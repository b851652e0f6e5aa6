# Embeddings from Scratch. The two commands a reader needs:
#   make run    set up, fetch data, execute every notebook once into outputs/executed/
#               and build the site from those outputs (the git tree stays clean)
#   make test   set up, fetch data, build the site from the committed notebooks (nothing
#               executed), then unit tests, nbval of every notebook (their one
#               execution) and the browser tests (site and JupyterLab)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NPM_INSTALLED := node_modules/.package-lock.json
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
EXECUTED_DIR := outputs/executed
SITE_SOURCE := outputs/site_source
SITE_DIR := outputs/site
# The notebooks the site shows: the committed ones, or (make run) freshly executed ones.
SITE_NOTEBOOKS ?= notebooks
# make lab: local only by default; LAB_IP=0.0.0.0 to reach it from another machine.
LAB_IP ?= 127.0.0.1
LAB_PORT ?= 8888
# As root (containers, CI): Jupyter needs --allow-root, and there is no desktop browser.
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root --no-browser)

.PHONY: run test setup data site notebooks lesson-code lab bench browser googlenews deepseek clean

run: setup data
	$(BIN)/python tools/execute_notebooks.py --output-dir $(EXECUTED_DIR) $(NOTEBOOKS)
	$(MAKE) site SITE_NOTEBOOKS=$(EXECUTED_DIR)
	@echo "Site built: open $(SITE_DIR)/index.html (or: $(BIN)/python -m http.server -d $(SITE_DIR))"

test: setup data site
	$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

setup: $(INSTALLED) $(NPM_INSTALLED)

$(INSTALLED): pyproject.toml requirements-no-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	$(BIN)/python -m pip install --progress-bar off --no-deps -r requirements-no-deps.txt
	touch $@

$(NPM_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund

data: setup
	$(BIN)/python -m helpers.data

# Render the notebooks of SITE_NOTEBOOKS, with their saved outputs, as a website: they
# are copied with index.md and api.md into one staging folder; nothing is executed.
site: setup
	rm -rf $(SITE_SOURCE) $(SITE_DIR)
	mkdir -p $(SITE_SOURCE)
	cp notebooks/index.md notebooks/api.md $(SITE_SOURCE)/
	cp $(addprefix $(SITE_NOTEBOOKS)/,$(notdir $(NOTEBOOKS))) $(SITE_SOURCE)/
	$(BIN)/sphinx-build -E -W --keep-going -q -b html -c site $(SITE_SOURCE) $(SITE_DIR)

# Re-execute the notebooks in place, refreshing the outputs committed for nbval.
notebooks: setup data
	$(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

# Copy the lesson code defined in notebook cells tagged `export` into helpers/.
lesson-code: setup
	$(BIN)/python tools/lesson_code.py sync

# JupyterLab on http://$(LAB_IP):$(LAB_PORT)/ (it prints the address with its token).
lab: setup data
	$(BIN)/jupyter lab --ip=$(LAB_IP) --port=$(LAB_PORT) $(AS_ROOT) notebooks

bench: setup data
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Debian's Chromium for the browser tests (needs root; CI's .ci/run does this itself).
browser:
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

# The real GoogleNews word2vec vectors (1.6 GB) for notebook 03; needs internet.
googlenews: setup
	$(BIN)/python -c "import gensim.downloader as api; print(api.load('word2vec-google-news-300', return_path=True))"

# DeepSeek-R1-Distill-Qwen-1.5B for notebook 05 (~3.5 GB: config, safetensors,
# tokenizer files); needs internet. Nothing else downloads it.
deepseek: setup
	EMBEDDINGS_ALLOW_DOWNLOAD=1 $(BIN)/python -m helpers.llm download

clean:
	rm -rf outputs .pytest_cache .hypothesis
