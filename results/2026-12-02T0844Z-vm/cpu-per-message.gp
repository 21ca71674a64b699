set title "Server CPU per message at a fixed 10,000 msgs/s on 100 connections (blocking, one client at a time: in the table)\n{/*0.8 Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.18.44-fc-v1045, 2026-12-02 08:44 UTC}"
set xlabel ""
set ylabel "CPU-us per message"
set grid
set key outside right top box opaque
set border 3
set tics nomirror
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid noxtics
set xtics rotate by -30 ("spin" 0, "select" 1, "poll" 2, "epoll" 3, "epoll-et" 4, "reactors" 5, "uring" 6, "uring-multishot" 7, "threads" 8, "pool" 9, "fork" 10, "prefork" 11)
set xrange [-0.6:11.6]
set yrange [0:*]
unset key
set yrange [0:120.73]
set label "busy loop:\n100% of a CPU" at 0, 100.608 center offset 0,1.5 font ",9"
set terminal pngcairo size 900,520 font 'sans,10'
set output 'cpu-per-message.png'
plot 'cpu-per-message.dat' index 0 using 1:2 with boxes lc rgb '#e69f00' title 'spin', \
     'cpu-per-message.dat' index 0 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 1 using 1:2 with boxes lc rgb '#56b4e9' title 'select', \
     'cpu-per-message.dat' index 1 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 2 using 1:2 with boxes lc rgb '#009e73' title 'poll', \
     'cpu-per-message.dat' index 2 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 3 using 1:2 with boxes lc rgb '#0072b2' title 'epoll', \
     'cpu-per-message.dat' index 3 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 4 using 1:2 with boxes lc rgb '#0072b2' title 'epoll-et', \
     'cpu-per-message.dat' index 4 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 5 using 1:2 with boxes lc rgb '#0072b2' title 'reactors', \
     'cpu-per-message.dat' index 5 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 6 using 1:2 with boxes lc rgb '#882255' title 'uring', \
     'cpu-per-message.dat' index 6 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 7 using 1:2 with boxes lc rgb '#882255' title 'uring-multishot', \
     'cpu-per-message.dat' index 7 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 8 using 1:2 with boxes lc rgb '#d55e00' title 'threads', \
     'cpu-per-message.dat' index 8 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 9 using 1:2 with boxes lc rgb '#d55e00' title 'pool', \
     'cpu-per-message.dat' index 9 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 10 using 1:2 with boxes lc rgb '#cc79a7' title 'fork', \
     'cpu-per-message.dat' index 10 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'cpu-per-message.dat' index 11 using 1:2 with boxes lc rgb '#cc79a7' title 'prefork', \
     'cpu-per-message.dat' index 11 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle
set terminal svg size 900,520 font 'sans,10' dynamic
set output 'cpu-per-message.svg'
replot
