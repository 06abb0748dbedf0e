"""runtime/cli/gotemplate.py: the Go templates `docker inspect --format` users write, run
over decoded inspect JSON, and the one-line errors for what it cannot run."""

from __future__ import annotations

import pytest

from runtime.cli.format import inspect_output, template
from runtime.cli.gotemplate import TemplateError, render

DATA = {
    "Id": "abc123", "Name": "/web",
    "State": {"Status": "running", "Pid": 42, "Running": True, "Health": None},
    "Config": {"Labels": {"com.example.tier": "front", "b": "x y"}, "Env": ["A=1", "B=2"],
               "Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {}},
    "NetworkSettings": {
        "Networks": {"pyrun-a": {"IPAddress": "10.90.0.2"}, "bridge": {"IPAddress": "10.89.0.2"}},
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
    "HostConfig": {"Memory": 0, "NanoCpus": 1.5e9},
}

CASES = [
    ("{{.State.Pid}}", "42"),
    ("{{.State.Running}}", "true"),
    ("{{.Name}} {{.Id}}", "/web abc123"),
    ("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", "10.89.0.2 10.90.0.2 "),
    ("{{range $n, $e := .NetworkSettings.Networks}}{{$n}}={{$e.IPAddress}};{{end}}",
     "bridge=10.89.0.2;pyrun-a=10.90.0.2;"),  # map keys in order, as Go ranges over them
    ('{{index .Config.Labels "com.example.tier"}}', "front"),
    ('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', "8080"),
    ("{{json .Config.Labels}}", '{"com.example.tier":"front","b":"x y"}'),
    ("{{json .State.Health}}", "null"),
    ("{{.State.Health}}", "<nil>"),
    ("{{.Nope}}", "<no value>"),
    ("{{.Config.Cmd}}", "[nginx -g daemon off;]"),
    ("{{.Config.Labels}}", "map[b:x y com.example.tier:front]"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ("{{.Name | upper}}", "/WEB"),
    ("{{len .Config.Env}}", "2"),
    ("{{.HostConfig.NanoCpus}}", "1500000000"),
    ('{{printf "%s:%d" .Name .State.Pid}}', "/web:42"),
    ("{{if .State.Health}}h{{else if eq .State.Status \"running\"}}r{{else}}x{{end}}", "r"),
    ("{{if .HostConfig.Memory}}limited{{else}}unlimited{{end}}", "unlimited"),
    ("{{range .Config.ExposedPorts}}x{{else}}none{{end}}", "none"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{with $s := .State}}{{$s.Pid}}{{end}}", "42"),
    ("{{$p := .State.Pid}}{{range .Config.Env}}{{$p}}{{end}}", "4242"),
    ("{{- range .Config.Env }}\n{{ . }}\n{{- end }}", "\nA=1\nB=2"),
    ("{{range $i, $a := .Config.Cmd}}{{if $i}},{{end}}{{$a}}{{end}}", "nginx,-g,daemon off;"),
    ("{{and .State.Running .Name}} {{or .HostConfig.Memory \"-\"}} {{not .State.Running}}",
     "/web - false"),
    ("{{`raw {{`}}", "raw {{"),
]


@pytest.mark.parametrize("src,expected", CASES)
def test_a_template_renders_as_go_would(src, expected):
    assert render(src, DATA) == expected


@pytest.mark.parametrize("src,message", [
    ("{{.State", "unclosed action"),
    ("{{nope .A}}", 'function "nope" not defined'),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .A}}x", "has no {{end}}"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{range .Name}}{{end}}", "can't iterate"),
    ("{{.State.Pid.X}}", "can't evaluate field X"),
    ("{{$nope}}", "undefined variable"),
    ("{{index .Config.Cmd 9}}", "out of range"),
    ('{{"open}}', "unterminated string"),
    ("{{template \"x\"}}", "not supported"),
])
def test_what_it_cannot_run_is_one_clear_error(src, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("(", r"\(")):
        render(src, DATA)


def test_inspect_prints_a_line_per_object_or_the_json_array():
    objs = [DATA, {**DATA, "Name": "/db"}]
    assert inspect_output(objs, "{{.Name}}") == "/web\n/db\n"
    assert inspect_output(objs, None).startswith("[\n    {\n")
    assert inspect_output(objs, "json") == inspect_output(objs, None)
    with pytest.raises(TemplateError):  # parsed before anything is printed
        inspect_output(objs, "{{.Name")


def test_a_listings_template_reaches_nested_fields_and_refuses_a_typo():
    rows = [{"Type": "container", "Action": "start",
             "Actor": {"ID": "abc", "Attributes": {"name": "web"}}}]
    assert template("{{.Action}} {{.Actor.Attributes.name}}", rows, []) == "start web\n"
    assert template("table {{.Type}}\\t{{.Action}}", rows,
                    [("TYPE", "Type")]) == "TYPE        ACTION\ncontainer   start\n"
    with pytest.raises(Exception, match="no field 'Actoin'"):
        template("{{.Actoin}}", rows, [])
