# Embeddings from Scratch. The two commands a reader needs:
#   make run    set up, fetch data, execute every notebook and build the site
#   make test   set up, fetch data, build the site, then unit tests, nbval and browser tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
SITE_DIR := outputs/site
NPM_INSTALLED := node_modules/.package-lock.json

.PHONY: run test setup data site notebooks lesson-code lab bench browser googlenews clean

run: site
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

# Execute the notebooks (cached in outputs/jupyter_cache) and render them as a website.
site: setup data
	$(BIN)/sphinx-build -W --keep-going -q -b html -c site notebooks $(SITE_DIR)

# Re-execute the notebooks in place, refreshing the outputs committed for nbval.
notebooks: setup data
	$(BIN)/python tools/execute_notebooks.py notebooks/*.ipynb

# Copy the lesson code defined in notebook cells tagged `export` into helpers/.
lesson-code: setup
	$(BIN)/python tools/lesson_code.py sync

lab: setup data
	$(BIN)/jupyter lab notebooks

bench: setup data
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Debian's Chromium for the browser tests (needs root; CI's .ci/run does this itself).
browser:
	test -x /usr/bin/chromium || (apt-get update -q && apt-get install -y -q chromium)

# The real GoogleNews word2vec vectors (1.6 GB) for notebook 03; needs internet.
googlenews: setup
	$(BIN)/python -c "import gensim.downloader as api; print(api.load('word2vec-google-news-300', return_path=True))"

clean:
	rm -rf outputs .pytest_cache .hypothesis
