package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the configuration file; a larger one is refused.
const MaxFileSize = 1 << 20

// EnvPrefix starts every environment override.
const EnvPrefix = "GATEHOUSE_"

// Problem is one thing wrong with the configuration, at a YAML path such as
// "directory.activedirectory.urls[1]" (or an environment variable name).
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Problems is every problem found; it is the error Load and Validate return.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	if len(ps) == 1 {
		return "configuration: " + lines[0]
	}
	return fmt.Sprintf("configuration has %d problems:\n  %s", len(ps), strings.Join(lines, "\n  "))
}

func (ps *Problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Load reads the file at path, applies GATEHOUSE_… overrides from the
// process environment, reads secret files and validates the result. The
// error, when not nil, is Problems listing everything found, or a plain
// error when the file cannot be read at all.
func Load(path string) (Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(data, os.Environ())
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return nil, fmt.Errorf("configuration file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("configuration file %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse is Load on bytes already read, with an explicit environment
// ("KEY=value" strings, as os.Environ returns).
func Parse(data []byte, environ []string) (Config, error) {
	cfg := Default()
	var probs Problems

	if len(data) > MaxFileSize {
		probs.add("", "configuration larger than %d bytes", MaxFileSize)
		return cfg, probs
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		probs.add("", "not valid YAML: %s", trimYAMLError(err))
		return cfg, probs
	}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind != yaml.MappingNode {
			probs.add("", "the file must be a YAML mapping of settings (line %d)", root.Line)
			return cfg, probs
		}
		checkKeys(root, reflect.TypeFor[Config](), "", &probs)
		if err := root.Decode(&cfg); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, e := range te.Errors {
					probs.add("", "%s", e)
				}
			} else {
				probs.add("", "%s", trimYAMLError(err))
			}
		}
	}
	for i := range cfg.Apps {
		cfg.Apps[i] = cfg.Apps[i].WithDefaults()
	}
	// Only the file's own dsn is checked: one from the environment or
	// dsn_file may carry a password.
	if dsnHasPassword(cfg.Storage.Postgres.DSN.Value()) {
		probs.add("storage.postgres.dsn", "holds a password, and secrets are never written inline: put the connection string in a file "+
			"readable only by gatehouse and set dsn_file (or pass it in %sSTORAGE_POSTGRES_DSN)", EnvPrefix)
	}
	applyEnv(&cfg, environ, &probs)
	resolveSecrets(&cfg, &probs)
	if err := cfg.Validate(); err != nil {
		var vp Problems
		if errors.As(err, &vp) {
			probs = append(probs, vp...)
		}
	}
	if len(probs) > 0 {
		return cfg, probs
	}
	return cfg, nil
}

func trimYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// yamlName returns the key a struct field is read from, or "" for none.
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// checkKeys reports every mapping key that does not name a field, with its
// full path, walking nested sections and lists.
func checkKeys(n *yaml.Node, t reflect.Type, path string, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			if name := yamlName(f); name != "" {
				fields[name] = f
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := joinPath(path, key)
			f, ok := fields[key]
			if !ok {
				probs.add(p, "unknown key (line %d)%s", n.Content[i].Line, suggest(key, fields))
				continue
			}
			checkKeys(n.Content[i+1], f.Type, p, probs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func suggest(key string, fields map[string]reflect.StructField) string {
	if _, ok := fields[key+"_file"]; ok {
		return fmt.Sprintf("; secrets are read from files: put it in a file readable only by gatehouse and set %s_file", key)
	}
	if len(key) > 64 { // no field name is this long; skip the O(n·m) distance
		return ""
	}
	best, bestD := "", 4
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := levenshtein(key, name); d < bestD {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// envSetters maps every overridable environment variable to the field it
// sets. Lists of sections (apps) cannot be set from the environment.
func envSetters(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		fv := v.Field(i)
		key := prefix + strings.ToUpper(name)
		switch {
		case f.Type.Kind() == reflect.Struct:
			envSetters(fv, key+"_", out)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.String && f.Type.Elem().Kind() != reflect.Int:
			// not settable from the environment (apps)
		default:
			out[key] = fv
		}
	}
}

// EnvNames lists every GATEHOUSE_… variable Gatehouse reads, sorted.
func EnvNames() []string {
	cfg := Default()
	m := map[string]reflect.Value{}
	envSetters(reflect.ValueOf(&cfg).Elem(), EnvPrefix, m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// envIgnored are GATEHOUSE_ variables that are not configuration.
func envIgnored(name string) bool {
	return strings.HasPrefix(name, EnvPrefix+"TEST_") || strings.HasPrefix(name, EnvPrefix+"TESTENV_") || name == EnvPrefix+"CONFIG"
}

func applyEnv(cfg *Config, environ []string, probs *Problems) {
	setters := map[string]reflect.Value{}
	envSetters(reflect.ValueOf(cfg).Elem(), EnvPrefix, setters)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || envIgnored(name) {
			continue
		}
		fv, ok := setters[name]
		if !ok {
			probs.add(name, "unknown environment variable; see `gatehouse config env` for the list")
			continue
		}
		if err := setFromString(fv, val); err != nil {
			probs.add(name, "%v", err)
		}
	}
}

var durationType = reflect.TypeFor[time.Duration]()

func setFromString(fv reflect.Value, val string) error {
	switch {
	case fv.Type() == durationType:
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("not a duration like 10s or 5m: %q", val)
		}
		fv.SetInt(int64(d))
	case fv.Kind() == reflect.String:
		fv.SetString(val)
	case fv.Kind() == reflect.Int || fv.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", val)
		}
		fv.SetInt(n)
	case fv.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("not true or false: %q", val)
		}
		fv.SetBool(b)
	case fv.Kind() == reflect.Slice:
		items := reflect.MakeSlice(fv.Type(), 0, 4)
		for _, s := range strings.Split(val, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			item := reflect.New(fv.Type().Elem()).Elem()
			if err := setFromString(item, s); err != nil {
				return err
			}
			items = reflect.Append(items, item)
		}
		fv.Set(items)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// resolveSecrets reads every *_file secret into its field.
func resolveSecrets(cfg *Config, probs *Problems) {
	read := func(path, file string, dst *Secret) {
		if file == "" {
			return
		}
		v, err := ReadSecretFile(file)
		if err != nil {
			probs.add(path, "%v", err)
			return
		}
		*dst = Secret(v)
	}
	if cfg.Storage.Postgres.DSNFile != "" && cfg.Storage.Postgres.DSN != "" {
		probs.add("storage.postgres", "set dsn or dsn_file, not both")
	}
	read("storage.postgres.dsn_file", cfg.Storage.Postgres.DSNFile, &cfg.Storage.Postgres.DSN)
	read("directory.activedirectory.bind_password_file", cfg.Directory.ActiveDirectory.BindPasswordFile, &cfg.Directory.ActiveDirectory.BindPassword)
	read("smtp.password_file", cfg.SMTP.PasswordFile, &cfg.SMTP.Password)
	for i := range cfg.Apps {
		read(fmt.Sprintf("apps[%d].client_secret_file", i), cfg.Apps[i].ClientSecretFile, &cfg.Apps[i].ClientSecret)
	}
}

// MaxSecretFileSize bounds a secret file.
const MaxSecretFileSize = 64 << 10

// ReadSecretFile reads a secret from a file, refusing one that every user on
// the machine can read. One trailing newline is removed.
func ReadSecretFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("secret file %s does not exist", path)
		}
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("secret file %s is not a regular file", path)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("secret file %s is readable by every user on this machine (mode %#o); run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	if st.Size() > MaxSecretFileSize {
		return "", fmt.Errorf("secret file %s is larger than %d bytes", path, MaxSecretFileSize)
	}
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return s, nil
}
