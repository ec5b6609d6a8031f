using System.Text.Json.Nodes;
using Ril.Text.Jinja;

namespace Ril.Tests.Text.Jinja;

/// <summary>
/// The engine's pieces, each expectation what Python's jinja2 3.1 printed for the same source and variables in
/// transformers' environment (trim_blocks, lstrip_blocks, loop controls, the immutable sandbox): Python-style
/// printing, slicing, loop variables and scoping, namespace, macros, filters, tests, methods, and the errors.
/// </summary>
public class JinjaEngineTests
{
    const string Variables = """
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "n": 7, "x": 2.5,
         "s": "  Hello World  ", "d": {"b": 1, "a": [1, 2]}, "none": null}
        """;

    static string Render(string source)
    {
        var template = Template.Parse(source, "snippet.jinja");
        template.AddGlobal("raise_exception", Template.RaiseException);
        return template.Render(JsonNode.Parse(Variables)!.AsObject());
    }

    [Theory]
    [InlineData("{{ [1, 'a', {'type': 'image'}, none, true, 1.5, (1,), ('a', 2)] }}", "[1, 'a', {'type': 'image'}, None, True, 1.5, (1,), ('a', 2)]")]
    [InlineData("{{ 1e16 }} {{ 1e15 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 0.0001 }} {{ -0.0 }} {{ 2.0 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7.5 % 2 }}", "1e+16 1000000000000000.0 0.30000000000000004 1e-05 0.0001 -0.0 2.0 2.5 2 -4 2 1024 1.5")]
    [InlineData("{{ \"it's\" }}|{{ ['it\\'s', \"a\\\"b\", 'tab\\there', 'nl\\n', '\\x00', 'é'] }}", "it's|[\"it's\", 'a\"b', 'tab\\there', 'nl\\n', '\\x00', 'é']")]
    [InlineData("{{ {'k': 'v', 'n': {'x': [true, false, none]}} }}", "{'k': 'v', 'n': {'x': [True, False, None]}}")]
    [InlineData("{{ 'abcdef'[::-1] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[-2:] }} {{ [1,2,3,4,5][::2] }} {{ [1,2,3][5:] }} {{ [1,2,3,4][-3:-1] }} {{ 'abc'[10:] }}|{{ [1,2,3][::-2] }}", "fedcba bcd ef [1, 3, 5] [] [2, 3] |[3, 1]")]
    [InlineData("{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem is defined }}/{{ loop.nextitem.role if loop.nextitem is defined else '-' }};{% endfor %}", "1/0/2/1/True/False/2/False/assistant;2/1/1/0/False/True/2/True/-;")]
    [InlineData("{% for i in range(10) if i is odd %}{% if i > 6 %}{% break %}{% endif %}{% if i == 3 %}{% continue %}{% endif %}{{ i }}{% else %}none{% endfor %}|{% for i in [] %}x{% else %}empty{% endfor %}", "15|empty")]
    [InlineData("{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m.role == 'assistant' %}{% set ns.found = true %}{% endif %}{% set ns.count = ns.count + 1 %}{% endfor %}{{ ns.found }} {{ ns.count }}", "True 2")]
    [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }} {{ greet(name='Cy') }}", "Hi Ann! Hi Bob? Hi Cy!")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }} {{ d.get('zz', 'dflt') }} {{ d.get('b') }}", "b=1;a=[1, 2];['b', 'a'] dflt 1")]
    [InlineData("{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ s | trim }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}", "Hello World|Hello World  |  Hello World|hi|Hello World|['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a b', 'c']")]
    [InlineData("{{ 'Hello'.startswith('He') }} {{ 'Hello'.startswith(('x', 'H')) }} {{ 'Hello'.endswith('lo') }} {{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'hello'.upper() }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.count('b') }} {{ 'a-b'.replace('-', '+') }} {{ '{} and {}'.format(1, 'x') }} {{ ', '.join(['a', 'b']) }}", "True True True Hello World Hello HELLO 2 2 a+b 1 and x a, b")]
    [InlineData("{{ 'hello world-foo' | title }} {{ 'HELLO' | lower }} {{ 'hello' | capitalize }} {{ [3,1,2] | sort }} {{ [3,1,2] | sort(reverse=true) }} {{ ['b','A','c'] | sort }} {{ [1,2,3] | reverse | list }} {{ 'abc' | reverse }} {{ [1,2,2,1,3] | unique | list }} {{ [1,2,3] | first }} {{ [1,2,3] | last }} {{ [1,2,3] | length }} {{ 'abc' | count }}", "Hello World-Foo hello Hello [1, 2, 3] [3, 2, 1] ['A', 'b', 'c'] [3, 2, 1] cba [1, 2, 3] 1 3 3 3")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | list }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }} {{ [1,2,3,4] | select('even') | list }} {{ [1,2,3,4] | reject('odd') | list }} {{ ['a','b'] | map('upper') | join(',') }}", "[{'role': 'user', 'content': 'hi'}] ['yo'] [2, 4] [2, 4] A,B")]
    [InlineData("{{ undefined_var | default('dflt') }} {{ '' | default('empty', true) }} {{ none | default('x') }} {{ 3.7 | int }} {{ '42' | int }} {{ 'x' | int(5) }} {{ '2.5' | float }} {{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ -3 | abs }} {{ 42 | string }} {{ [1,2] | join }} {{ [1,2] | join('-') }}", "dflt empty None 3 42 5 2.5 2.0 3.14 3 42 12 1-2")]
    [InlineData("{{ 'line1\\nline2\\n\\nline4' | indent(2) }}|{{ 'a\\nb' | indent(4, true) }}|{{ '<a href=\"x\">&\\'' | e }}|{{ [1,2,3,4,5] | batch(2) | list }}|{{ {'b': 1, 'a': 2} | dictsort }}|{{ [1,2,3] | sum }}|{{ [3,1,2] | min }}{{ [3,1,2] | max }}", "line1\n  line2\n\n  line4|    a\n    b|&lt;a href=&#34;x&#34;&gt;&amp;&#39;|[[1, 2], [3, 4], [5]]|[('a', 2), ('b', 1)]|6|13")]
    [InlineData("{{ d | tojson }}|{{ {'a': 'é\"\\n', 'b': [1, 2.0, none, true]} | tojson }}|{{ d | tojson(indent=2) }}|{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ [] | tojson(indent=2) }}{{ {} | tojson }}", "{\"b\": 1, \"a\": [1, 2]}|{\"a\": \"é\\\"\\n\", \"b\": [1, 2.0, null, true]}|{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}|{\"a\": 2, \"b\": 1}|[]{}")]
    [InlineData("{{ x is number }} {{ n is integer }} {{ x is float }} {{ true is number }} {{ true is boolean }} {{ 's' is string }} {{ d is mapping }} {{ messages is sequence }} {{ 's' is iterable }} {{ n is odd }} {{ n is even }} {{ n is divisibleby 7 }} {{ none is none }} {{ undefined_var is defined }} {{ n is defined }} {{ true is true }} {{ 0 is false }} {{ 'a' is in 'abc' }} {{ 3 is gt 2 }} {{ 'x' is lower }}", "True True True True True True True True True True False True True False True True False True True True")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ undefined_var ~ [1] }}|{{ 1 if false }}|{{ 'yes' if n > 3 else 'no' }}|{{ not true }}|{{ 1 and 'x' }}|{{ 0 or 'y' }}|{{ 'b' in 'abc' }} {{ 1 in [1,2] }} {{ 'k' not in d }} {{ 'b' in d }}|{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ [1,2] == [1,2] }} {{ (1,2) }} {{ 'ab' * 2 }} {{ [0] * 3 }}", "a1None[1]||yes|False|x|y|True True True True|True True True (1, 2) abab [0, 0, 0]")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t = (1, 2) %}{{ t[0] }}{% set c %}block {{ a }}{% endset %}[{{ c }}]{% set u %}  up  {% endset %}{{ u | upper | trim }}", "121[block 1]UP")]
    [InlineData("{% for m in messages %}{% set last = m.role %}{% endfor %}[{{ last }}]{% set outer = 1 %}{% for i in [1,2] %}{{ outer }}{% set outer = 5 %}{{ outer }}{% endfor %}{{ outer }}", "[]15151")]
    [InlineData("  {% if true %}\n    kept\n  {% endif %}\n{{ 'x' }}  \n  {{- 'y' -}}  \n z {#- c -#} w {# comment #}\n{%- if true +%}  \n{%+ if true %}p{% endif %}\n{% endif %}\nend\n", "    kept\nxyzw   \npend")]
    [InlineData("{% if n == 7 %}seven{% elif n == 8 %}eight{% else %}other{% endif %}{% if 0 %}a{% elif none %}b{% else %}c{% endif %}", "sevenc")]
    [InlineData("{{ messages[0].role }}{{ messages[0]['content'] }}{{ messages[-1].content }}{{ messages[5] }}|{{ d.a[1] }}{{ d['a'].0 }}|{{ none.x }}|{{ 'abc'.nope }}|{{ (messages|length) - 1 }}", "userhiyo|21|||1")]
    [InlineData("{{ '%s is %d' % ('x', 3) }} {{ '%s' | format('y') }}", "x is 3 y")]
    [InlineData("{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }}", "[0, 1, 2] [1, 4, 7] {'a': 1, 'b': 'x'} 1")]
    [InlineData("{% macro outer() %}[{{ caller() }}]{% endmacro %}{% call outer() %}inside {{ n }}{% endcall %}", "[inside 7]")]
    [InlineData("{% filter upper %}shout {{ n }}{% endfilter %}", "SHOUT 7")]
    [InlineData("{{ 'x' if messages[0]['content'] is string else 'parts' }} {{ messages[0].content[0] }} {{ (messages | map(attribute='role') | list)[-1] }}", "x h assistant")]
    [InlineData("{{ '\\u00e9\\x41\\101\\q' }} {{ \"a\" 'b' }} {{ 1_000 }} {{ 1.5e3 }}", "éAA\\q ab 1000 1500.0")]
    [InlineData("{{ x.real if false else x }} {{ n|float }} {{ (n / 2) | int }} {{ 10 | round }} {{ 2.675 | round(2) }} {{ 0.5 | round }} {{ 1.5 | round }}", "2.5 7.0 3 10 2.67 0.0 2.0")]
    public void Renders_like_jinja2(string source, string expected) => Assert.Equal(expected, Render(source));

    [Theory]
    [InlineData("{{ raise_exception('Bad role: ' + messages[0].role) }}", "Bad role: user")]
    [InlineData("{{ 'a' + [1] }}", "can only concatenate str (not \"list\") to str")]
    [InlineData("{{ messages.strip() }}", "'list object' has no attribute 'strip'")]
    [InlineData("{{ undefined_var.attr }}", "'undefined_var' is undefined")]
    [InlineData("{% set x = [1] %}{{ x.append(2) }}", "access to attribute 'append' of 'list' object is unsafe.")]
    [InlineData("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ 'abc' < 3 }}", "'<' not supported between instances of 'str' and 'int'")]
    [InlineData("{% for a, b in [[1]] %}{% endfor %}", "not enough values to unpack (expected 2, got 1)")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{{ {}.x.y }}", "'dict object' has no attribute 'x'")]
    [InlineData("{{ none + 1 }}", "unsupported operand type(s) for +: 'NoneType' and 'int'")]
    [InlineData("{{ len(messages) }}", "'len' is undefined")]
    [InlineData("{% for m in 5 %}{% endfor %}", "'int' object is not iterable")]
    public void Fails_with_jinja2s_message(string source, string message) =>
        Assert.Equal(message, Assert.Throws<TemplateException>(() => Render(source)).Reason);

    const string Conversation = """
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}, {"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image"}]}]}
        """;

    /// <summary>Statements over a conversation: scoping of set in if/for/macro, loop filters, unpacking, macros, generation blocks.</summary>
    [Theory]
    [InlineData("{% set ns = namespace(n=0) %}{% for a in [1,2] %}{% for b in [1,2,3] %}{% if b > a %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}{% endfor %}{{ ns.n }}", "3")]
    [InlineData("{% set x = 'top' %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 'later' %}{{ m() }}", "later")]
    [InlineData("{% macro m(a, b=2) %}{{ a }}{{ b }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 3, 4, 5) }}|{{ m(1, c=9) }}", "12(){}|13(4, 5){}|12(){'c': 9}")]
    [InlineData("{% for m in messages %}{{ loop.cycle('odd', 'even') }}{{ loop.depth }}{% for p in [1] %}{{ loop.depth }}{% endfor %};{% endfor %}", "odd11;even11;odd11;even11;")]
    [InlineData("{% for m in messages if m.role != 'system' %}{{ loop.index }}{{ m.role[0] }}{% endfor %}", "1u2a3u")]
    [InlineData("{% for m in messages %}{% if m.tool_calls is defined %}{% for tc in m.tool_calls %}{% set tc = tc.function %}{{ tc.name }}{{ tc.arguments | tojson }}{% endfor %}{% endif %}{% endfor %}", "f{\"a\": 1}")]
    [InlineData("{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for c in m.content %}{{ c.type }}{% if c.text is defined %}={{ c.text }}{% endif %},{% endfor %}{% endif %}|{% endfor %}", "s|hi|yo|text=t,image,|")]
    [InlineData("{% set sys = messages[0] if messages[0].role == 'system' else none %}{{ sys.content if sys else 'none' }}{% set rest = messages[1:] %}{{ rest | length }}{{ messages | map(attribute='role') | join(',') }}", "s3system,user,assistant,user")]
    [InlineData("{{ messages | selectattr('tool_calls', 'defined') | list | length }}{{ messages | rejectattr('tool_calls') | map(attribute='role') | unique | list }}{{ messages | map(attribute='missing', default='d') | list }}", "1['system', 'user']['d', 'd', 'd', 'd']")]
    [InlineData("{%- for m in messages -%}\n  {%- if loop.first -%}\n    [{{ m.role }}]\n  {%- endif %}\n  {{ m.role }}\n{% endfor %}", "[system]  system\n  user\n  assistant\n  user\n")]
    [InlineData("{% for i in range(3) %}{{ i }}{% if loop.changed(i // 2) %}*{% endif %}{% endfor %}", "0*12*")]
    [InlineData("{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}{% for (a, b) in [[5, 6]] %}{{ a * b }}{% endfor %}", "3730")]
    [InlineData("{% set d = {'x': 1} %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'héllo' %}{{ c }}.{% endfor %}", "xh.é.l.l.o.")]
    [InlineData("{{ messages[1:] | map(attribute='role') | list }}{{ messages[-2:][0].role }}{{ (messages | last).content[1].type }}", "['user', 'assistant', 'user']assistantimage")]
    [InlineData("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}{{ loop.index0 }}{{ message.role }}{% endfor %}", "0user1assistant2user")]
    [InlineData("{% set content = messages[2]['content'] %}{% if '</think>' in content %}x{% endif %}{{ content.split('y')[-1] }}{{ 'a</think>\\n\\nb'.split('</think>')[-1].lstrip('\\n') }}", "ob")]
    [InlineData("{{ '{\"a\": 1}' }}{{ {'a': 1} }}{{ {'a': 'b'}['a'] }}{{ {'a': {'b': 2}}.a.b }}", "{\"a\": 1}{'a': 1}b2")]
    [InlineData("{% set x = 1 %}{% if true %}{% set x = 2 %}{% endif %}{{ x }}{% for i in [1] %}{% set x = 3 %}{% endfor %}{{ x }}", "22")]
    [InlineData("{%- macro render(m) -%}\n<{{ m.role }}>\n{%- endmacro -%}\n{% for m in messages %}{{ render(m) }}{% endfor %}", "<system><user><assistant><user>")]
    [InlineData("{{ 'Hello' | replace('l', 'L', 1) }}{{ 'x' | center(5) }}|{{ 'abc' | wordcount }}{{ [1, [2]] | tojson }}{{ ('a', 1) | tojson }}{{ 'tab\\tq' | tojson }}", "HeLlo  x  |1[1, [2]][\"a\", 1]\"tab\\tq\"")]
    [InlineData("{{ 3 is divisibleby 3 }}{{ 'a' is sameas 'a' }}{{ none is sameas none }}{{ [] is iterable }}{{ 'A' is upper }}{{ 'tojson' is filter }}{{ 'odd' is test }}", "TrueTrueTrueTrueTrueTrueTrue")]
    [InlineData("{% generation %}gen {{ 1 }}{% set inner = 5 %}{% endgeneration %}[{{ inner }}]", "gen 1[]")]
    public void Runs_statements_like_jinja2(string source, string expected) =>
        Assert.Equal(expected, Template.Parse(source, "snippet.jinja").Render(JsonNode.Parse(Conversation)!.AsObject()));

    [Theory]
    [InlineData("{% if false %}{{ x | nofilter }}{% endif %}ok", "ok")]
    [InlineData("{{ x | nofilter if false else 1 }}", "1")]
    [InlineData("{% if true %}{{ x | nofilter }}{% endif %}", "error: No filter named 'nofilter' found.")]
    [InlineData("{% if true %}{{ x is notest }}{% endif %}", "error: No test named 'notest' found.")]
    [InlineData("{% for i in [] %}{{ x | nofilter }}{% endfor %}ok", "error: No filter named 'nofilter'.")]
    [InlineData("{% if true %}\n{% for i in [1] %}\n{{ 1 | nofilter }}{% endfor %}{% endif %}", "error: No filter named 'nofilter'.")]
    public void Unknown_filters_fail_when_jinja2_fails(string source, string expected)
    {
        string result;
        try { result = Render(source); }
        catch (TemplateException e) { result = "error: " + e.Reason; }
        Assert.Equal(expected, result);
    }

    [Fact]
    public void A_runtime_error_names_the_template_and_the_line()
    {
        var template = HfChatTemplate.Parse("{% for m in messages %}\n{{ m.role }}\n{{ m.content + [1] }}\n{% endfor %}", "chat_template.jinja", null, null);
        var e = Assert.Throws<TemplateException>(() => template.Apply(JsonNode.Parse("""[{"role": "user", "content": "hi"}]""")!.AsArray(), false));
        Assert.Equal(3, e.Line);
        Assert.Equal("chat_template.jinja", e.TemplateName);
        Assert.Equal("chat_template.jinja, line 3: can only concatenate str (not \"list\") to str", e.Message);
    }

    [Fact]
    public void Raise_exception_stops_the_render_with_the_templates_message_and_line()
    {
        var template = HfChatTemplate.Parse("{% if messages[0].role == 'system' %}\n  {{ raise_exception('System role not supported') }}\n{% endif %}", "gemma.jinja", "<bos>", null);
        var e = Assert.Throws<TemplateException>(() => template.Apply(JsonNode.Parse("""[{"role": "system", "content": "x"}]""")!.AsArray(), true));
        Assert.True(e.RaisedByTemplate);
        Assert.Equal("System role not supported", e.Reason);
        Assert.Equal("gemma.jinja, line 2: System role not supported", e.Message);
    }

    [Theory]
    [InlineData("line one\n{% if x %}\n{% endfro %}", 3, "Encountered unknown tag 'endfro'. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")]
    [InlineData("{{ 1 +\n }}", 2, "unexpected 'end of print statement'")]
    [InlineData("{% for m in messages %}\n{{ m }}", 2, "Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")]
    [InlineData("\n\n{{ x | no_such_filter }}", 3, "No filter named 'no_such_filter'.")]
    [InlineData("{{ 'unterminated }}", 1, "unexpected char \"'\" at 3")]
    [InlineData("{% endfor %}", 1, "Encountered unknown tag 'endfor'.")]
    [InlineData("{{ x is nosuchtest }}", 1, "No test named 'nosuchtest'.")]
    [InlineData("{% if %}{% endif %}", 1, "Expected an expression, got 'end of statement block'")]
    public void A_syntax_error_names_the_template_and_the_line(string source, int line, string reason)
    {
        var e = Assert.Throws<TemplateException>(() => Template.Parse(source, "broken.jinja"));
        Assert.Equal(line, e.Line);
        Assert.Equal(reason, e.Reason);
        Assert.StartsWith($"broken.jinja, line {line}: ", e.Message);
    }

    [Theory]
    [InlineData(0.1, "0.1")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1234567890123456.0, "1234567890123456.0")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(-2.5e-7, "-2.5e-07")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(double.NaN, "nan")]
    [InlineData(double.NegativeInfinity, "-inf")]
    [InlineData(100.0, "100.0")]
    public void Floats_print_as_Python_repr(double value, string expected) => Assert.Equal(expected, PythonValues.FloatRepr(value));

    [Fact]
    public void Strftime_now_formats_the_templates_clock()
    {
        var template = HfChatTemplate.Parse("{{ strftime_now('%d %b %Y, %-d %B %H:%M') }}", "t", null, null);
        template.Clock = () => new DateTime(2024, 7, 6, 9, 5, 0);
        Assert.Equal("06 Jul 2024, 6 July 09:05", template.Apply([], false));
    }

    [Fact]
    public void Apply_passes_the_special_tokens_the_generation_prompt_and_extra_variables()
    {
        var template = HfChatTemplate.Parse("{{ bos_token }}|{{ eos_token is defined }}|{{ add_generation_prompt }}|{{ tools }}|{{ enable_thinking }}|{{ messages[0].content[0].type }}", "t", "<s>", null);
        var messages = JsonNode.Parse("""[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what?"}]}]""")!.AsArray();
        Assert.Equal("<s>|False|True|None|False|image", template.Apply(messages, true, new JsonObject { ["enable_thinking"] = false }));
    }
}
