-- Helpers of the dispatch mapping pack (mappings.md, general rules): ASCII case folding, safe JSON
-- parsing, placeholder rendering, money parsing. Pure functions, no table access.

-- These helpers carry no SET clause on purpose: a SQL function with one is never inlined, and a
-- PL/pgSQL one pays a GUC save/restore per call; every name inside is schema-qualified.

-- ASCII-only lower-casing ("lower-cased" and "contains" are ASCII case-insensitive): under the
-- C collation lower() folds A-Z only and leaves every other character as it is.
create function sync.ascii_lower(p_text text)
returns text
language sql
immutable parallel safe
return lower(p_text collate "C");

-- Parses text as JSON; NULL when it is not valid JSON (instead of raising).
create function sync.try_jsonb(p_text text)
returns jsonb
language plpgsql
immutable parallel safe
as $$
begin
    return p_text::jsonb;
exception when others then
    return null;
end;
$$;

-- The value at a dotted path of object keys, as placeholder text: strings as they are, numbers
-- and booleans as jsonb prints them; NULL when missing, JSON null, an object or an array, or
-- when a non-object is reached before the last segment.
create function sync.placeholder_value(p_context jsonb, p_path text)
returns text
language plpgsql
immutable parallel safe
as $$
declare
    v_cur jsonb := p_context;
    v_seg text;
begin
    foreach v_seg in array string_to_array(p_path, '.') loop
        if jsonb_typeof(v_cur) is distinct from 'object' then
            return null;
        end if;
        v_cur := v_cur -> v_seg;
    end loop;
    return case jsonb_typeof(v_cur) when 'string' then v_cur #>> '{}' when 'number' then v_cur::text
                                    when 'boolean' then v_cur::text end;
end;
$$;

-- Replaces every {{ path }} placeholder in one pass (replaced values are not scanned again);
-- a placeholder without a value stays exactly as written.
create function sync.render_placeholders(p_content text, p_context jsonb)
returns text
language plpgsql
immutable parallel safe
set search_path = ''
as $$
declare
    v_out text := '';
    v_rest text := p_content;
    v_i integer := strpos(p_content, '{{');
    v_j integer;
    v_inner text;
begin
    -- Left to right, as a regular expression finds its leftmost matches: at each '{{', the text up
    -- to the next '}}' is a placeholder if it is a dotted name between optional spaces; otherwise
    -- the scan moves on by one character. (2.5x faster than splitting on a regular expression and
    -- joining the pieces: the context of every system message goes through here.)
    while v_i > 0 loop
        v_j := strpos(substr(v_rest, v_i + 2), '}}');
        exit when v_j = 0;
        v_inner := substr(v_rest, v_i + 2, v_j - 1);
        if v_inner ~ '^ *[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)* *$' then
            v_out := v_out || left(v_rest, v_i - 1)
                     || coalesce(sync.placeholder_value(p_context, btrim(v_inner, ' ')), '{{' || v_inner || '}}');
            v_rest := substr(v_rest, v_i + v_j + 3);
        else
            v_out := v_out || left(v_rest, v_i);
            v_rest := substr(v_rest, v_i + 1);
        end if;
        v_i := strpos(v_rest, '{{');
    end loop;
    return v_out || v_rest;
end;
$$;

-- Money as text → numeric(12,2), exactly: U+0020-trimmed text matching ^-?[0-9]+(\.[0-9]{1,2})?$
-- with absolute value below 10^10; NULL otherwise. Never through floating point.
create function sync.parse_amount(p_text text)
returns numeric
language sql
immutable parallel safe
as $$
    select case when btrim(p_text, ' ') ~ '^-?[0-9]+(\.[0-9]{1,2})?$' and length(split_part(ltrim(btrim(p_text, ' '), '-'), '.', 1)) <= 40
                     and abs(btrim(p_text, ' ')::numeric) < 1e10
                then btrim(p_text, ' ')::numeric(12, 2) end;
$$;

-- The word for a code, from a list of words for consecutive codes starting at p_first; NULL if unknown.
create function sync.code_label(p_code integer, p_labels text[], p_first integer default 1)
returns text
language sql
immutable parallel safe
return case when p_code >= p_first then p_labels[p_code - p_first + 1] end;

revoke execute on function sync.code_label(integer, text[], integer), sync.ascii_lower(text), sync.try_jsonb(text), sync.placeholder_value(jsonb, text),
    sync.render_placeholders(text, jsonb), sync.parse_amount(text) from public;
