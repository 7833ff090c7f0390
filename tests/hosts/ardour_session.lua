-- Drives Ardour headless (ardour7-lua, the Dummy audio backend) for tests/hosts/test_ardour.py:
--
--   ardour7-lua ardour_session.lua create DIR NAME RATE SECONDS PLUGIN TRACK:PARAM=VALUE...
--   ardour7-lua ardour_session.lua inspect DIR NAME PLUGIN
--
-- create: a new session with one stereo audio track per TRACK named in the arguments (in
-- their order; the first is panned hard left, the second hard right);
-- records SECONDS of the Dummy backend's input on them (Ardour's Lua has no file import
-- outside its GUI, so the take gives each track a region whose files the test then
-- overwrites with its own signal), inserts the VST3 named PLUGIN as each track's first
-- plugin, sets its parameters by name (plain values, the units Ardour shows), saves the
-- session. inspect: loads the saved session and reports every track's plugin parameters and
-- latencies.
--
-- Every result is a line "XODVOX key value..." on stdout; a failure is "XODVOX error ...".
-- No error leaves the interpreter silent: `fail` prints and ends the script.

local function out (...)
	print ("XODVOX " .. table.concat ({...}, " "))
end

local function fail (msg)
	out ("error", msg)
	if Session then close_session () end
	error (msg, 0)
end

-- The first plugin insert on the route whose plugin is called `name`.
local function find_plugin (route, name)
	local i = 0
	while true do
		local proc = route:nth_plugin (i)
		if proc:isnil () then break end
		local pi = proc:to_insert ()
		if not pi:isnil () and pi:plugin (0):name () == name then return proc, pi, pi:plugin (0) end
		i = i + 1
	end
	fail ("no plugin " .. name .. " on track " .. route:name ())
end

-- Control inputs as {label = {n = index for LuaAPI.*_processor_param, port = parameter id}};
-- `n` counts as Plugin:nth_parameter does (it maps n to the port).
local function controls (plugin)
	local t = {}
	local n = 0
	while true do
		local port, ok = plugin:nth_parameter (n, true)
		if not ok[2] then break end
		if plugin:parameter_is_input (port) then
			t[plugin:parameter_label (port)] = { n = n, port = port }
		end
		n = n + 1
	end
	return t
end

local function report (track)
	local name = track:name ()
	local proc, pi, plugin = find_plugin (track, PLUGIN)
	out ("plugin", name, plugin:name (), "by", plugin:maker (), "unique-id", plugin:unique_id ())
	for label, c in pairs (controls (plugin)) do
		local _, pd = plugin:get_parameter_descriptor (c.port, ARDOUR.ParameterDescriptor ())
		local v = ARDOUR.LuaAPI.get_processor_param (proc, c.n, true)
		out ("param", name, string.format ("%q", label), tostring (v), "range",
			tostring (pd[2].lower), tostring (pd[2].upper))
	end
	out ("latency", name, "plugin", tostring (pi:signal_latency ()), "track",
		tostring (track:signal_latency ()), "playback", tostring (track:playback_latency (false)))
end

local mode = arg[1]

if mode == "create" then
	local dir, name, rate, seconds = arg[2], arg[3], tonumber (arg[4]), tonumber (arg[5])
	PLUGIN = arg[6]
	local order, settings = {}, {}
	for i = 7, #arg do
		local tname, label, value = string.match (arg[i], "^(.-):(.-)=(.*)$")
		if not tname then fail ("bad argument " .. arg[i] .. " (TRACK:PARAM=VALUE)") end
		if not settings[tname] then
			settings[tname] = {}
			order[#order + 1] = tname
		end
		table.insert (settings[tname], { label, tonumber (value) })
	end
	if not create_session (dir, name, rate) then fail ("create_session " .. dir .. " failed") end
	out ("backend", AudioEngine:current_backend_name ())
	out ("rate", tostring (Session:nominal_sample_rate ()))

	local tracks = {}
	for i, tname in ipairs (order) do
		local tl = Session:new_audio_track (2, 2, nil, 1, tname, ARDOUR.PresentationInfo.max_order,
			ARDOUR.TrackMode.Normal, true)
		if tl:size () ~= 1 then fail ("new_audio_track " .. tname .. " failed") end
		local t = tl:front ()
		if t:name () ~= tname then fail ("track is called " .. t:name () .. ", not " .. tname) end
		tracks[i] = t
	end

	-- One take of SECONDS on the armed tracks.
	for _, t in ipairs (tracks) do t:rec_enable_control ():set_value (1, PBD.GroupControlDisposition.NoGroup) end
	Session:maybe_enable_record (false)
	Session:request_roll (ARDOUR.TransportRequestSource.TRS_UI)
	sleep (seconds)
	Session:request_stop (false, false, ARDOUR.TransportRequestSource.TRS_UI)
	sleep (0.5)
	for i, t in ipairs (tracks) do
		t:rec_enable_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)
		local regions = t:playlist ():region_list ()
		if regions:size () ~= 1 then fail (t:name () .. ": recorded " .. regions:size () .. " regions, expected 1") end
		for r in regions:iter () do
			out ("region", t:name (), r:name (), "position", tostring (r:position ():samples ()),
				"length", tostring (r:length ():samples ()))
		end
		-- Pan: the first track hard left, the second hard right (Ardour 7's stereo panner is
		-- a balance control: its left / right channel alone; a width panner gets width 0).
		if i <= 2 then
			local az = t:pan_azimuth_control ()
			if az:isnil () then fail (t:name () .. " has no panner") end
			if not t:pan_width_control ():isnil () then
				t:pan_width_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)
			end
			az:set_value (i - 1, PBD.GroupControlDisposition.NoGroup)
		end

		local proc = ARDOUR.LuaAPI.new_plugin (Session, PLUGIN, ARDOUR.PluginType.VST3, "")
		if proc:isnil () then fail ("VST3 plugin " .. PLUGIN .. " not found (scanned? VST3_PATH?)") end
		if t:add_processor_by_index (proc, 0, nil, true) ~= 0 then fail ("could not add " .. PLUGIN) end
		local ctl = controls (proc:to_insert ():plugin (0))
		for _, kv in ipairs (settings[t:name ()]) do
			local label, value = kv[1], kv[2]
			local c = ctl[label]
			if not c then
				local names = {}
				for l, _ in pairs (ctl) do names[#names + 1] = l end
				fail ("plugin has no parameter " .. label .. " (it has: " .. table.concat (names, ", ") .. ")")
			end
			if not ARDOUR.LuaAPI.set_processor_param (proc, c.n, value) then
				fail ("could not set " .. label .. " to " .. tostring (value))
			end
		end
	end
	-- Let the engine run a few cycles so the plugins see the values before the state is saved.
	sleep (0.5)
	for _, t in ipairs (tracks) do report (t) end
	if Session:save_state ("", false, false, false, false, false) ~= 0 then fail ("save_state failed") end
	out ("saved", Session:path ())
	close_session ()
elseif mode == "inspect" then
	local dir, name = arg[2], arg[3]
	PLUGIN = arg[4]
	if not load_session (dir, name) then fail ("load_session " .. dir .. " failed") end
	out ("rate", tostring (Session:nominal_sample_rate ()))
	for t in Session:get_tracks ():iter () do report (t) end
	close_session ()
else
	fail ("usage: ardour7-lua ardour_session.lua create|inspect ...")
end
out ("done")
